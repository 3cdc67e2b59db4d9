"""Every strategy: properties (unique, never labeled, deterministic for a seed), the needs it
declares, the "+ft" variants, and the capability error before training."""

import numpy as np
import pytest

from labelwise.learners import make_learner
from labelwise.learners.base import (
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
)
from labelwise.loop import check_capabilities, query
from labelwise.strategies import STRATEGIES, SelectionContext, get_strategy
from labelwise.validation import LabelwiseError

K = 4


class StubLearner:
    """A fitted model made of fixed random weights, with every capability (no training)."""

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, CONTRASTIVE, LOSS_PREDICTION,
                              PSEUDO_LABEL_FT})
    classes_ = np.arange(K)

    def __init__(self, seed=0, d=6):
        self.W = np.random.default_rng(seed).normal(size=(d, K))

    def predict_proba(self, X):
        z = X @ self.W
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def embed(self, X):
        return np.tanh(X * 1.5)

    def encode(self, y):
        return np.asarray(y, dtype=np.int64)

    def sample_proba(self, X):
        return np.stack([StubLearner(10 + t).predict_proba(X) for t in range(5)])

    def ema_outputs(self, X):
        return dict(proba_main=self.predict_proba(X), embed_main=self.embed(X),
                    proba_ema=StubLearner(99).predict_proba(X), embed_ema=self.embed(X) * 0.8)

    def predict_loss(self, X):
        return np.abs(X[:, 0])


BASE = sorted(STRATEGIES)


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    labeled = np.arange(0, 300, 10)
    return X, labeled, labeled % K


@pytest.mark.parametrize("name", BASE)
@pytest.mark.parametrize("previous", [None, StubLearner(5)])
def test_every_strategy_unique_unlabeled_deterministic(pool, name, previous):
    X, labeled, y = pool
    picks = query(name, StubLearner(), X, labeled, y, 17, previous_learner=previous,
                  random_state=3)
    again = query(name, StubLearner(), X, labeled, y, 17, previous_learner=previous,
                  random_state=3)
    assert len(picks) == 17 and len(np.unique(picks)) == 17
    assert not np.isin(picks, labeled).any()
    assert picks.tolist() == again.tolist()
    # k equal to every candidate still works
    everything = query(name, StubLearner(), X, labeled, y, 300 - len(labeled), random_state=1)
    assert sorted(everything.tolist()) == sorted(set(range(300)) - set(labeled.tolist()))


def test_declared_needs():
    expected = {
        "bald": {SAMPLES}, "variation_ratio": {SAMPLES}, "badge": {PROBA, EMBEDDING},
        "lhd": {EMA}, "alamp": {PROBA}, "alamp_div": {PROBA}, "rand_div": {PROBA},
        "marg_div": {PROBA}, "scal": {PROBA, EMBEDDING, CONTRASTIVE},
        "featuresim": {PROBA, EMBEDDING}, "dfm": {PROBA, EMBEDDING},
        "learning_loss": {LOSS_PREDICTION},
    }
    for name, needs in expected.items():
        assert STRATEGIES[name].needs == needs, name
        assert get_strategy(name + "+ft").needs == needs | {PSEUDO_LABEL_FT}


def test_ft_variants():
    s = get_strategy("margin+ft")
    assert s.finetune and s.select is STRATEGIES["margin"].select and s.name == "margin+ft"
    assert not get_strategy("margin").finetune
    for name in BASE:
        assert get_strategy(name + "+ft").finetune
    with pytest.raises(LabelwiseError, match="unknown strategy 'nope\\+ft'"):
        get_strategy("nope+ft")
    with pytest.raises(LabelwiseError, match="unknown strategy"):
        get_strategy("margin+ft+ft")


@pytest.mark.parametrize("strategy, learner, capability", [
    ("bald", "logreg", "samples"), ("variation_ratio", "svm", "samples"),
    ("lhd", "logreg", "ema"), ("scal", "mlp", "contrastive"),
    ("learning_loss", "mlp", "loss_prediction"), ("margin+ft", "logreg", "pseudo_label_ft"),
])
def test_missing_capability_fails_before_training(strategy, learner, capability):
    if learner == "mlp":
        pytest.importorskip("torch")
    with pytest.raises(LabelwiseError, match=f"needs the learner capability '{capability}'") as e:
        check_capabilities(get_strategy(strategy), make_learner(learner, 3))
    assert "learners that have it:" in str(e.value)
    assert "logreg" not in str(e.value).split("have it:")[1]


def test_bald_on_logreg_names_the_learners_that_have_samples():
    with pytest.raises(LabelwiseError) as e:
        check_capabilities(get_strategy("bald"), make_learner("logreg", 3))
    msg = str(e.value).split("have it:")[1]
    assert "mlp" in msg and "ensemble" in msg


def test_cli_lists_every_strategy():
    from typer.testing import CliRunner

    from labelwise.cli import app

    out = CliRunner().invoke(app, ["strategies"]).output
    for name in STRATEGIES:
        assert any(line.split()[0] == name for line in out.splitlines() if line.strip()), name


def test_no_eager_ft_copies_in_the_registry():
    assert not any(n.endswith("+ft") for n in STRATEGIES)


@pytest.fixture
def user_strategy():
    """A strategy registered from user code: one score function and one register line."""
    from labelwise import register_strategy

    register_strategy("max_second", needs={PROBA}, description="largest second probability",
                      score=lambda ctx: np.sort(ctx.proba, axis=1)[:, -2])
    yield "max_second"
    STRATEGIES.pop("max_second")


def test_a_user_strategy_has_ft_and_works_in_query(pool, user_strategy):
    X, labeled, y = pool
    picks = query(user_strategy, StubLearner(), X, labeled, y, 5)
    p = StubLearner().predict_proba(X)
    second = np.sort(p, axis=1)[:, -2]
    second[labeled] = -np.inf
    assert sorted(picks.tolist()) == sorted(np.argsort(-second, kind="stable")[:5].tolist())
    ft = get_strategy(user_strategy + "+ft")
    assert ft.finetune and ft.needs == {PROBA, PSEUDO_LABEL_FT}
    assert "khosla2022" in ft.paper


def test_a_user_strategy_has_an_ood_auroc(pool, user_strategy):
    from labelwise.experiments.ood import strategy_ood_auroc

    X, labeled, y = pool
    auroc = strategy_ood_auroc(user_strategy, StubLearner(), X[:50], X[50:100] * 5, X[labeled],
                               y)
    assert 0.0 <= auroc <= 1.0


def test_scores_declared_where_the_strategy_ranks_by_one(pool):
    X, labeled, y = pool
    batch_only = {n for n, s in STRATEGIES.items() if s.score is None}
    assert batch_only == {"badge", "lhd", "rand_div", "typiclust", "probcover"}
    # a score-only strategy picks the top k of its declared score
    ctx = SelectionContext(StubLearner(), X, X[labeled], y)
    s = STRATEGIES["margin"].score(ctx)
    assert np.allclose(s, np.sort(ctx.proba, 1)[:, -1] - np.sort(ctx.proba, 1)[:, -2])
    assert not STRATEGIES["margin"].largest


def test_register_refuses_bad_names():
    from labelwise import register_strategy

    with pytest.raises(LabelwiseError, match="not ending in"):
        register_strategy("x+ft", score=lambda ctx: ctx.proba[:, 0])
    with pytest.raises(LabelwiseError, match="needs a score or a select"):
        register_strategy("nothing")


def test_every_strategy_cites_papers_of_the_table():
    from labelwise.papers import split_keys

    for s in STRATEGIES.values():
        if s.paper != "all":
            assert split_keys(s.paper), s.name
