"""Benchmark data sets: the constructions of :mod:`labelwise.data.constructions` applied to the
real data here, encoded, as :class:`~labelwise.data.Dataset` records.

A suite names one with ``RunSpec(dataset=NAME, dataset_params=((key, value), ...))``; the worker
builds it with :func:`build_bench_dataset` (cached per process; embeddings cached on disk by
:func:`labelwise.encoders.embed`). Image constructions act on raw uint8 images before encoding,
as in the papers. Groups ride along in ``groups_train``/``groups_test`` and ``info``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelwise.data import constructions as C
from labelwise.data import spurious as SP
from labelwise.data.dataset import Dataset
from labelwise.data.encoded import ITEMS, encode_dataset
from labelwise.validation import unknown_name_error

BENCH_DATASETS: dict[str, Callable[..., Dataset]] = {}

#: Fashion-MNIST classes that form core class 0 of the spurious task (tops: T-shirt, pullover,
#: dress, coat, shirt); the rest (trouser, sandal, sneaker, bag, ankle boot) are core class 1.
FMNIST_TOPS = (0, 2, 3, 4, 6)


def bench_dataset(name: str):
    def deco(fn):
        BENCH_DATASETS[name] = fn
        return fn
    return deco


def build_bench_dataset(name: str, **params) -> Dataset:
    """Build the benchmark data set ``name`` with ``params`` (see each builder's docstring)."""
    if name not in BENCH_DATASETS:
        raise unknown_name_error("benchmark data set", name, BENCH_DATASETS)
    return BENCH_DATASETS[name](**params)


def _source(source: str, pool: int | None, test: int | None, seed: int = 0):
    """Raw images and labels of a built-in image data set, optionally a stratified subset."""
    from sklearn.model_selection import train_test_split

    from labelwise.data import load_dataset

    ds = load_dataset(source)
    out = []
    for raw, y, size in ((ds.raw_train, ds.y_train, pool), (ds.raw_test, ds.y_test, test)):
        raw = np.asarray(raw)
        if size is not None and size < len(y):
            keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y,
                                       random_state=seed)
            keep = np.sort(keep)
            raw, y = raw[keep], y[keep]
        out += [raw, np.asarray(y, dtype=np.int64)]
    return (*out, ds.classes)


def _encode(encoder: str, *image_sets) -> list[np.ndarray]:
    from labelwise.encoders import embed

    return [embed(encoder, imgs, progress=False) for imgs in image_sets]


@bench_dataset("gaussians")
def gaussians(n: int = 5000, n_test: int = 1000, distance: float = 3.0, seed: int = 0) -> Dataset:
    """The 2-D Gaussians of An Empirical Study of Deep Active Learning (2021): ``n`` pool and
    ``n_test`` test points of two unit blobs."""
    X, y = C.two_gaussians(n, distance, seed)
    Xt, yt = C.two_gaussians(n_test, distance, seed + 1)
    return Dataset("gaussians", X, y, Xt, yt, ["blob0", "blob1"],
                   "two 2-D Gaussians (An Empirical Study of Deep Active Learning, 2021)")


@bench_dataset("four-moons")
def four_moons(n: int = 2000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """Khosla et al. 2022's Four-Moons: moon 0 has random labels; groups_train 1 = noisy. The test
    set is the three clean moons (the noisy moon's labels cannot be predicted)."""
    X, y, noisy = C.four_moons(n, noisy_moon=0, random_state=seed)
    Xt, yt, nt = C.four_moons(n_test, noisy_moon=0, random_state=seed + 1)
    return Dataset("four-moons", X, y, Xt[~nt], yt[~nt], ["m0", "m1", "m2", "m3"],
                   "Four-Moons, one noisy moon (Khosla et al. 2022)",
                   groups_train=noisy.astype(np.int64),
                   info={"noisy_group": 1})


@bench_dataset("balanced")
def balanced(source: str = "fashion-mnist", encoder: str = "identity", pool: int | None = 3000,
             test: int | None = 1000) -> Dataset:
    """A stratified subset of a built-in image data set, encoded.

    ``encoder="items"``: no encoding, for the fine-tuning learners: X is an (n, 1) column of
    indices into ``info["items"]`` (pool then test images), which :func:`run_one` hands to a
    ``finetune-*`` learner (see :mod:`labelwise.learners.finetune`)."""
    X, y, Xt, yt, classes = _source(source, pool, test)
    if encoder == ITEMS:
        raw = Dataset(f"{source}-balanced", np.zeros((len(y), 0), np.float32), y,
                      np.zeros((len(yt), 0), np.float32), yt, classes, raw_train=X, raw_test=Xt)
        return encode_dataset(raw, ITEMS)
    F, Ft = _encode(encoder, X, Xt)
    return Dataset(f"{source}-balanced", F, y, Ft, yt, classes, info={"encoder": encoder})


@bench_dataset("heteroskedastic")
def heteroskedastic(kind: str = "blank", source: str = "fashion-mnist",
                    encoder: str = "identity", pool: int = 1000, test: int = 1000,
                    noise_fraction: float = 0.8, seed: int = 0) -> Dataset:
    """Khosla et al. 2022's Noisy-Blank/Diverse/Class on ``pool`` clean images (+ 4x as many noisy
    at 80%); the test set is clean. groups_train: 1 = noisy."""
    X, y, Xt, yt, classes = _source(source, pool, test)
    Xh, yh, noisy = C.heteroskedastic(X, y, kind, len(classes), noise_fraction, random_state=seed)
    if Xh.ndim == 4:  # Noisy-Diverse is RGB: give the test set the same layout
        Xt = C.to_rgb(Xt)
    F, Ft = _encode(encoder, Xh, Xt)
    return Dataset(f"{source}-noisy-{kind}", F, yh, Ft, yt, classes,
                   groups_train=noisy.astype(np.int64),
                   info={"noisy_group": 1, "encoder": encoder})


@bench_dataset("imbalanced-binary")
def imbalanced_binary(source: str = "fashion-mnist", encoder: str = "identity",
                      minority: tuple = (0, 6), ratio: float = 1 / 19, pool: int | None = None,
                      test: int | None = None, seed: int = 0) -> Dataset:
    """The binary minority task of An Empirical Study of Deep Active Learning (2021): classes
    ``minority`` (default T-shirt and shirt) vs the rest at 1:19, in the pool and in the test set;
    scored by the minority's AP."""
    X, y, Xt, yt, _ = _source(source, pool, test)
    i, yb = C.imbalanced_binary(y, list(minority), ratio, seed)
    it, ybt = C.imbalanced_binary(yt, list(minority), ratio, seed + 1)
    F, Ft = _encode(encoder, X[i], Xt[it])
    return Dataset(f"{source}-imbalanced-binary", F, yb, Ft, ybt, ["majority", "minority"],
                   info={"minority": 1, "encoder": encoder})


@bench_dataset("long-tailed")
def long_tailed(source: str = "fashion-mnist", encoder: str = "identity",
                imbalance_ratio: float = 0.75, pool: int | None = 6000, test: int | None = 1000,
                seed: int = 0) -> Dataset:
    """Aggarwal et al. 2022's long-tailed pool with imbalance ratio std/mean (Aggarwal et al. 2022
    uses ~0.75); balanced test set."""
    X, y, Xt, yt, classes = _source(source, pool, test)
    i = C.long_tailed(y, imbalance_ratio, seed)
    F, Ft = _encode(encoder, X[i], Xt)
    return Dataset(f"{source}-long-tailed", F, y[i], Ft, yt, classes,
                   info={"encoder": encoder})


@bench_dataset("half-classes")
def half_classes(source: str = "fashion-mnist", encoder: str = "identity",
                 fraction: float = 0.1, pool: int | None = 6000, test: int | None = 1000,
                 seed: int = 0) -> Dataset:
    """Pretrained Models Are Good Active Learners (2021), appendix I: half of the classes keep 10%
    of their pool examples; balanced test.
    groups: 1 = a reduced (minority) class."""
    X, y, Xt, yt, classes = _source(source, pool, test)
    i, reduced = C.subsample_classes(y, fraction, random_state=seed)
    F, Ft = _encode(encoder, X[i], Xt)
    return Dataset(f"{source}-half-classes", F, y[i], Ft, yt, classes,
                   groups_train=np.isin(y[i], reduced).astype(np.int64),
                   groups_test=np.isin(yt, reduced).astype(np.int64), info={"encoder": encoder})


def _both_cues(encoder: str, images: np.ndarray, cue: str, strength: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) of every image painted with attribute 0 and (n, d) with attribute 1.

    A split at any agreement then takes its rows from one or the other (:func:`_by_attribute`),
    so a dose-response sweep encodes each image twice however many agreement levels it runs."""
    n = len(images)
    return tuple(_encode(encoder, SP.paint_cue(images, np.full(n, a), cue, strength))[0]
                 for a in (0, 1))


def standardize(X: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool and test features z-scored per dimension with the pool's mean and std (float32).

    Seeded random networks map every input near one common vector (mean pairwise cosine 0.95-0.99
    on the spurious tasks, against 0.2-0.45 pretrained), so an L2-regularised linear head on
    their raw features barely moves from the prior; z-scoring gives both encoders the same
    footing. Dimensions constant over the pool (up to rounding) are only centred."""
    X, X_test = np.asarray(X, np.float64), np.asarray(X_test, np.float64)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 1e-6 * np.maximum(1.0, np.abs(mu)), sd, 1.0)
    return ((X - mu) / sd).astype(np.float32), ((X_test - mu) / sd).astype(np.float32)


def _items(name: str, raw, y, raw_test, y_test, classes, groups: dict) -> Dataset:
    """``encoder="items"``: X = index columns into the raw items (pool then test), which a
    ``finetune-*`` learner fine-tunes on (see :func:`balanced`)."""
    empty = np.zeros((len(y), 0), np.float32), np.zeros((len(y_test), 0), np.float32)
    return encode_dataset(Dataset(name, empty[0], y, empty[1], y_test, classes, raw_train=raw,
                                  raw_test=raw_test, **groups), ITEMS)


def _by_attribute(features: tuple[np.ndarray, np.ndarray], attribute: np.ndarray) -> np.ndarray:
    """Row i of features[attribute[i]]: (n, d)."""
    return np.where(np.asarray(attribute)[:, None] == 1, features[1], features[0])


@bench_dataset("spurious")
def spurious(source: str = "fashion-mnist", encoder: str = "efficientnet-lite0",
             agreement: float = 0.95, test_agreement: float = 0.5, pool: int | None = 3000,
             test: int | None = 1000, seed: int = 0, cue: str = "tint",
             strength: float = 1.0, standardized: bool = False) -> Dataset:
    """The Waterbirds stand-in of Pretrained Models Are Good Active Learners (2021): core =
    tops vs the rest of Fashion-MNIST, spurious attribute = a background cue agreeing with the
    core on ``agreement`` of the pool and ``test_agreement`` of the test set; groups
    2 * core + attribute.

    ``cue``/``strength``: see :func:`labelwise.data.spurious.paint_cue` (``"tint"``: warm or
    cool background; ``"stripes"``: striped coloured background and a colour cast, easier than
    the garment's shape for ImageNet features); ``standardized``: z-score the features
    (:func:`standardize`); ``encoder="items"``: the painted images, for ``finetune-image``."""
    X, y, Xt, yt, _ = _source(source, pool, test)
    core, core_t = (~np.isin(y, FMNIST_TOPS)).astype(np.int64), (~np.isin(yt, FMNIST_TOPS)
                                                                  ).astype(np.int64)
    attr = SP.spurious_attribute(core, agreement, seed)
    attr_t = SP.spurious_attribute(core_t, test_agreement, seed + 1)
    name = f"{source}-spurious-{agreement}" + ("" if cue == "tint" else f"-{cue}")
    groups = {"groups_train": SP.group_of(core, attr), "groups_test": SP.group_of(core_t, attr_t)}
    if encoder == ITEMS:  # the painted images themselves, for the fine-tuning learners
        return _items(name, SP.paint_cue(X, attr, cue, strength), core,
                      SP.paint_cue(Xt, attr_t, cue, strength), core_t, ["tops", "other"], groups)
    F = _by_attribute(_both_cues(encoder, X, cue, strength), attr)
    Ft = _by_attribute(_both_cues(encoder, Xt, cue, strength), attr_t)
    if standardized:
        F, Ft = standardize(F, Ft)
    return Dataset(name, F, core, Ft, core_t, ["tops", "other"], **groups,
                   info={"encoder": encoder, "cue": cue, "strength": strength,
                         "standardized": standardized})


#: BBC News topics that form core class 1 of the text spurious task (the rest: business,
#: politics, tech, are core 0)
BBC_CORE1 = ("entertainment", "sports")
#: Rotten Tomatoes classes of the text spurious task: core 0 = fresh, core 1 = rotten
ROTTEN_CORE = ("fresh", "rotten")
TEXT_SOURCES = ("bbc-news", "rotten-tomatoes")


def headline(article: str) -> str:
    """The first non-empty line of a BBC News article: its headline."""
    return next((line.strip() for line in article.splitlines() if line.strip()), "")


def _text_source(source: str, pool: int | None, test: int | None
                 ) -> tuple[list, np.ndarray, list, np.ndarray, list[str]]:
    """(pool texts, core, test texts, core, core names) of a text spurious task.

    ``"bbc-news"``: headlines of BBC News, core 1 = entertainment or sports; ``"rotten-tomatoes"``:
    fresh (0) vs rotten (1) snippets, the "plot" ones dropped. ``pool``/``test``: a fixed
    class-stratified subset of each split (None: all of it)."""
    from sklearn.model_selection import train_test_split

    from labelwise.data.text_corpora import load_bbc_news, load_rotten_tomatoes

    if source not in TEXT_SOURCES:
        raise unknown_name_error("text source", source, TEXT_SOURCES)
    if source == "bbc-news":
        ds = load_bbc_news()
        ones, names = [ds.classes.index(c) for c in BBC_CORE1], ["other news", "+".join(BBC_CORE1)]
        keep_of = [np.arange(len(y)) for y in (ds.y_train, ds.y_test)]
        text_of = headline
    else:
        ds = load_rotten_tomatoes()
        codes = [ds.classes.index(c) for c in ROTTEN_CORE]
        ones, names = codes[1:], list(ROTTEN_CORE)
        keep_of = [np.flatnonzero(np.isin(y, codes)) for y in (ds.y_train, ds.y_test)]
        text_of = str
    out = []
    for texts, y, keep, size in ((ds.raw_train, ds.y_train, keep_of[0], pool),
                                 (ds.raw_test, ds.y_test, keep_of[1], test)):
        if size is not None and size < len(keep):
            keep, _ = train_test_split(keep, train_size=size, stratify=y[keep], random_state=0)
            keep = np.sort(keep)
        out += [[text_of(texts[i]) for i in keep], np.isin(y[keep], ones).astype(np.int64)]
    return (*out, names)


@bench_dataset("spurious-text")
def spurious_text(source: str = "bbc-news", encoder: str = "minilm", agreement: float = 0.95,
                  test_agreement: float = 0.5, pool: int | None = None, test: int | None = None,
                  repeats: int = 1, seed: int = 0, standardized: bool = False) -> Dataset:
    """The text counterpart of ``spurious``: a binary topic (BBC News headlines, entertainment or
    sports vs business, politics or tech) or sentiment (Rotten Tomatoes) core, and an injected
    phrase ("Posted from Boston." / "... Denver.", ``repeats`` times) agreeing with the core on
    ``agreement`` of the pool and ``test_agreement`` of the test set (CivilComments-style
    spurious tokens); groups 2 * core + attribute. Each text is encoded with both phrases once;
    ``standardized``: z-score the features (:func:`standardize`); ``encoder="items"``: the texts
    with their phrase, for ``finetune-text``."""
    X, y, Xt, yt, names = _text_source(source, pool, test)
    attr = SP.spurious_attribute(y, agreement, seed)
    attr_t = SP.spurious_attribute(yt, test_agreement, seed + 1)
    groups = {"groups_train": SP.group_of(y, attr), "groups_test": SP.group_of(yt, attr_t)}
    if encoder == ITEMS:  # the texts with their phrase, for the fine-tuning learners
        return _items(f"{source}-spurious-{agreement}",
                      SP.inject_text_cue(X, attr, repeats=repeats), y,
                      SP.inject_text_cue(Xt, attr_t, repeats=repeats), yt, names, groups)
    feats = []
    for texts, a in ((X, attr), (Xt, attr_t)):
        both = [_encode(encoder, SP.inject_text_cue(texts, np.full(len(texts), k),
                                                   repeats=repeats))[0] for k in (0, 1)]
        feats.append(_by_attribute(both, a))
    if standardized:
        feats = standardize(*feats)
    return Dataset(f"{source}-spurious-{agreement}", feats[0], y, feats[1], yt, names, **groups,
                   info={"encoder": encoder, "repeats": repeats, "standardized": standardized})


@bench_dataset("with-ood")
def with_ood(source: str = "fashion-mnist", ood_source: str = "mnist5k",
             encoder: str = "identity", imbalance_ratio: float = 0.0, pool: int | None = 3000,
             test: int | None = 1000, n_ood: int = 1000) -> Dataset:
    """Krishnan et al. 2021's setting: a balanced (``imbalance_ratio`` 0) or long-tailed pool, and
    ``n_ood`` images of another data set (MNIST digits by default) as out-of-distribution inputs
    in ``info["X_ood"]`` for the OOD AUROC."""
    X, y, Xt, yt, classes = _source(source, pool, test)
    if imbalance_ratio > 0:
        i = C.long_tailed(y, imbalance_ratio, 0)
        X, y = X[i], y[i]
    Xo, _, _, _, _ = _source(ood_source, n_ood, None)
    F, Ft, Fo = _encode(encoder, X, Xt, Xo)
    name = f"{source}-{'long-tailed' if imbalance_ratio > 0 else 'balanced'}"
    return Dataset(name, F, y, Ft, yt, classes, info={"X_ood": Fo, "encoder": encoder})
