"""Contract checks for strategies and learners, run on small data (as scikit-learn's
``check_estimator``, Pedregosa et al. 2011, does for estimators).

A plugin author runs them in a test of their own::

    from labelwise.testing import check_learner, check_strategy

    def test_my_strategy_keeps_the_contract():
        check_strategy("my_strategy")         # a registered name or a Strategy

    def test_my_learner_keeps_the_contract():
        check_learner(MyLearner, params={"epochs": 3})   # a registered name, a class or an object

Each returns the names of the checks it ran; the first broken one raises :class:`ContractError`
(an ``AssertionError``) naming the check and the strategy or learner. The test suite runs both on
every built-in strategy and learner.
"""

from labelwise.testing.common import (
    QUICK_PARAMS,
    TOY_LEARNERS,
    ContractError,
    gaussian_blobs,
    quick_learner,
    toy_data,
)
from labelwise.testing.learners import check_learner
from labelwise.testing.strategies import check_strategy

__all__ = ["QUICK_PARAMS", "TOY_LEARNERS", "ContractError", "check_learner", "check_strategy",
           "gaussian_blobs", "quick_learner", "toy_data"]
