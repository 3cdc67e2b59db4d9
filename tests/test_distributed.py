"""Selection over a sharded pool on a small local Ray: the in-memory picks, exactly (score-based
strategies, k-center greedy, Cluster-Margin, random) or nearly (BADGE's D^2 sampling)."""

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the distributed selection needs Ray")

from labelwise import ActiveLearner  # noqa: E402
from labelwise.engine import select_from  # noqa: E402
from labelwise.learners import as_learner  # noqa: E402
from labelwise.sharded import write_shards  # noqa: E402
from labelwise.strategies import get_strategy  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402

N, D = 2400, 24


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray (2 CPUs) and one ShardedSelection over 5 uneven shards for the module."""
    from labelwise.distributed import ShardedSelection

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    pool = write_shards(X, tmp_path_factory.mktemp("shards"), rows_per_shard=500)
    sel = ShardedSelection(pool)
    yield X, y, pool, sel
    sel.close()
    if started:
        ray.shutdown()


def _round(X, y, labeled):
    model = as_learner("logreg", [0, 1, 2], random_state=0).fit(X[labeled], y[labeled])
    cand = np.setdiff1d(np.arange(len(X)), labeled)
    return model, cand


def _both(cluster, name, k, seed=0, labeled=None, candidates=None):
    X, y, pool, sel = cluster
    labeled = np.arange(0, N, 37) if labeled is None else labeled
    model, cand = _round(X, y, labeled)
    cand = cand if candidates is None else candidates
    s = get_strategy(name)
    mem, _ = select_from(s, model, X, labeled, y[labeled], k, cand, random_state=seed,
                         classes=np.array([0, 1, 2]), pool_cache={})
    shard, ctx = sel.select_from(s, model, pool, labeled, y[labeled], k, cand, random_state=seed,
                                 classes=np.array([0, 1, 2]), pool_cache={})
    return mem, shard, ctx


@pytest.mark.parametrize("name", ["margin", "entropy", "least_confidence", "dfm", "random"])
def test_score_based_picks_equal_the_in_memory_picks(cluster, name):
    mem, shard, ctx = _both(cluster, name, 60)
    np.testing.assert_array_equal(shard, mem)
    if name != "random":
        assert np.isfinite(ctx.score_of(None)).all() and len(ctx.picked_positions) == 60


def test_top_k_merge_breaks_ties_by_the_lower_row_as_in_memory(cluster):
    # a model that is equally unsure everywhere: every margin ties, so the picks are the
    # lowest row ids among the candidates, across shard boundaries
    X, y, pool, sel = cluster

    class Flat:
        classes_ = np.array([0, 1, 2])

        def predict_proba(self, Xb):
            return np.full((len(Xb), 3), 1 / 3)

    labeled = np.array([0, 1, 2])
    cand = np.arange(3, N)
    picks, _ = sel.select_from(get_strategy("margin"), Flat(), pool, labeled, y[labeled], 5,
                               cand, random_state=0, classes=np.array([0, 1, 2]))
    assert picks.tolist() == [3, 4, 5, 6, 7]


def test_kcenter_picks_equal_the_in_memory_picks(cluster):
    mem, shard, _ = _both(cluster, "coreset", 40)
    np.testing.assert_array_equal(shard, mem)


@pytest.mark.parametrize("top_rows", [1, 3])
def test_kcenter_blocks_of_picks_and_no_labeled_centre_keep_the_in_memory_picks(
        cluster, monkeypatch, top_rows):
    # few rows per report: the driver's blocks end often on a worker's bound; no labeled
    # centre: the first pick is the seeded random one, taken from its worker
    from labelwise.distributed import driver

    monkeypatch.setattr(driver, "TOP_ROWS", top_rows)
    X, y, pool, sel = cluster
    model, _ = _round(X, y, np.arange(0, N, 37))
    none = np.zeros(0, dtype=np.int64)
    s = get_strategy("coreset")
    kw = dict(random_state=3, classes=np.array([0, 1, 2]), pool_cache={})
    mem, _ = select_from(s, model, X, none, none, 30, np.arange(N), **kw)
    shard, _ = sel.select_from(s, model, pool, none, none, 30, np.arange(N), **kw)
    np.testing.assert_array_equal(shard, mem)


def test_badge_keeps_the_in_memory_picks_with_the_same_seed(cluster):
    same = []
    for seed in range(3):
        mem, shard, _ = _both(cluster, "badge", 40, seed=seed)
        assert len(np.unique(shard)) == 40
        same.append(np.mean(shard == mem))
    assert np.mean(same) >= 0.95, same


def test_cluster_margin_picks_equal_the_in_memory_picks(cluster):
    mem, shard, _ = _both(cluster, "cluster_margin", 30, seed=4)
    np.testing.assert_array_equal(shard, mem)


def test_a_subset_of_candidates_is_respected(cluster):
    cand = np.arange(1000, 1900)  # within shards 2-4 only, none labeled
    mem, shard, _ = _both(cluster, "margin", 20, labeled=np.arange(0, 1000, 25), candidates=cand)
    np.testing.assert_array_equal(shard, mem)
    assert ((shard >= 1000) & (shard < 1900)).all()


def test_whole_pool_strategies_are_refused_with_a_clear_message(cluster):
    with pytest.raises(LabelwiseError, match="'typiclust' needs the whole pool at once"):
        _both(cluster, "typiclust", 5)


def test_fine_tuning_variants_and_arrays_are_refused_before_any_work():
    from labelwise.distributed import ShardedSelection

    with pytest.raises(LabelwiseError, match="'margin\\+ft' fine-tunes on the whole unlabeled "
                       "pool.*use 'margin'"):
        ShardedSelection.check_strategy(get_strategy("margin+ft"))
    with pytest.raises(LabelwiseError, match="'alamp_div' needs the whole pool at once"):
        ShardedSelection.check_strategy(get_strategy("alamp_div"))
    with pytest.raises(LabelwiseError, match="write the array as shards first"):
        ActiveLearner(np.zeros((5, 2)), executor="ray")


def test_active_learner_runs_rounds_on_the_shards(cluster):
    X, y, pool, _ = cluster
    lab = np.arange(0, N, 50)
    al = ActiveLearner(pool, "logreg", "margin", classes=[0, 1, 2], executor="ray",
                       labeled_idx=lab, labels=y[lab])
    mem = ActiveLearner(X, "logreg", "margin", classes=[0, 1, 2], labeled_idx=lab,
                        labels=y[lab])
    for _ in range(2):
        picks = al.step(25, random_state=1)
        np.testing.assert_array_equal(picks, mem.step(25, random_state=1))
        al.teach(picks, y[picks])
        mem.teach(picks, y[picks])
    assert np.isfinite(al.pick_scores()).all()
    al._sharded.close()


def test_a_shard_with_nan_rows_is_named(cluster, tmp_path):
    from labelwise.distributed import ShardedSelection

    X = cluster[0][:300].copy()
    pool = write_shards(X, tmp_path, rows_per_shard=200)
    X[250, 3] = np.nan
    np.save(tmp_path / "shard-00001.npy", X[200:])  # damaged after it was written
    with pytest.raises(LabelwiseError, match=r"shard shard-00001.npy has NaN or inf at row 50 "
                       r"\(pool row 250\)") as e:
        ShardedSelection(pool, n_workers=1)
    assert "\n" not in str(e.value)
