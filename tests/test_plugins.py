"""User strategies reach the CLI, the suites, the app and OOD AUROC through one registry."""

import sys

import pytest

from labelwise.plugins import load_plugins
from labelwise.strategies import STRATEGIES
from labelwise.validation import LabelwiseError

PLUGIN = '''
import numpy as np
from labelwise import PROBA, register_strategy

register_strategy("max_second", needs={PROBA}, description="largest second probability",
                  score=lambda ctx: np.sort(ctx.proba, axis=1)[:, -2])
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "my_strategies.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LABELWISE_PLUGINS", "my_strategies")
    yield "max_second"
    STRATEGIES.pop("max_second", None)
    sys.modules.pop("my_strategies", None)
    import labelwise.plugins

    labelwise.plugins._loaded.discard("my_strategies")


def test_a_plugin_strategy_runs_from_the_command_line(plugin, tmp_path):
    from labelwise.cli import main

    out = tmp_path / "out"
    code = main(["run", "--dataset", "breast_cancer", "--strategies", "random,max_second",
                 "--seeds", "1", "--rounds", "2", "--jobs", "1", "--out", str(out)])
    assert code == 0
    import pandas as pd

    results = pd.read_csv(out / "results.csv")
    assert set(results["strategy"]) == {"random", "max_second"}


def test_a_plugin_strategy_joins_every_setting_of_a_suite(plugin):
    from labelwise.experiments.suites import SUITES, available, with_strategies

    load_plugins()
    specs = SUITES["low-budget"].specs(True, 1)
    more = with_strategies(specs, ["max_second"])
    added = [sp for sp in more if sp.strategy == "max_second"]
    settings = {(sp.tag, sp.learner, sp.seed) for sp in specs}
    assert len(added) == len(settings) and len(more) == len(specs) + len(added)
    assert all(available(sp) is None for sp in added)


def test_a_broken_plugin_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LABELWISE_PLUGINS", "broken_plugin")
    with pytest.raises(LabelwiseError, match="cannot load the plugin 'broken_plugin'.*boom"):
        load_plugins()
