"""labelwise.protocol: the capability names, the Learner protocol, and their re-exports."""

import subprocess
import sys

import numpy as np

import labelwise.learners as learners
import labelwise.learners.base as base
from labelwise import protocol
from labelwise.protocol import (
    CAPABILITIES,
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
    Learner,
)

NAMES = ["PROBA", "EMBEDDING", "SAMPLES", "EMA", "CONTRASTIVE", "LOSS_PREDICTION",
         "PSEUDO_LABEL_FT"]

# the optional method each capability promises (protocol.Learner's docstring)
METHOD = {PROBA: "predict_proba", EMBEDDING: "embed", SAMPLES: "sample_proba",
          EMA: "ema_outputs", CONTRASTIVE: "embed", LOSS_PREDICTION: "predict_loss",
          PSEUDO_LABEL_FT: "finetune_pseudo_labels"}


def test_capability_names_are_distinct_strings_and_all_listed():
    values = [getattr(protocol, n) for n in NAMES]
    assert all(isinstance(v, str) for v in values)
    assert len(set(values)) == 7
    assert CAPABILITIES == frozenset(values)


def test_old_import_paths_give_the_same_objects():
    for name in [*NAMES, "Learner"]:
        assert getattr(base, name) is getattr(protocol, name)
        assert getattr(learners, name) is getattr(protocol, name)


def test_every_registered_learner_has_the_method_of_each_capability():
    for spec in learners.LEARNERS.values():
        assert spec.capabilities <= CAPABILITIES, spec.name
        for cap in spec.capabilities:
            assert callable(getattr(spec.cls, METHOD[cap], None)), (spec.name, cap)


def test_a_plain_class_with_the_required_members_is_a_learner():
    class Constant:
        classes_ = np.array(["a", "b"])
        capabilities = frozenset({PROBA})

        def fit(self, X, y):
            return self

        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

        def clone(self):
            return Constant()

    class NoProba:
        classes_ = np.array([0, 1])
        capabilities = frozenset()

        def fit(self, X, y):
            return self

        def clone(self):
            return self

    assert isinstance(Constant(), Learner)
    assert not isinstance(NoProba(), Learner)
    assert isinstance(learners.make_learner("logreg", 3), Learner)


def test_importing_the_protocol_imports_no_numpy():
    code = "import sys, labelwise.protocol; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shared_proba_mapping_is_softmax_only_when_named_mappings_differ():
    from types import SimpleNamespace as NS

    from labelwise.protocol import shared_proba_mapping

    soft, platt, plain = NS(proba_mapping_="softmax"), NS(proba_mapping_="platt"), NS()
    assert shared_proba_mapping(None, platt) is None  # first round
    assert shared_proba_mapping(soft, NS(proba_mapping_="softmax")) is None
    assert shared_proba_mapping(platt, platt) is None
    assert shared_proba_mapping(soft, platt) == "softmax"
    assert shared_proba_mapping(platt, soft) == "softmax"
    assert shared_proba_mapping(plain, platt) is None  # a learner that names no mapping
