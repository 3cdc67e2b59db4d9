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



@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules; what they register is removed afterwards."""
    import labelwise.plugins as plugins
    from labelwise.learners import LEARNERS

    monkeypatch.syspath_prepend(str(tmp_path))
    strategies, learners = dict(STRATEGIES), dict(LEARNERS)
    before = set(sys.modules)
    yield tmp_path
    STRATEGIES.clear()
    STRATEGIES.update(strategies)
    LEARNERS.clear()
    LEARNERS.update(learners)
    for name in set(sys.modules) - before:
        sys.modules.pop(name, None)
    plugins._loaded.clear()
    plugins.skipped.clear()


def test_sys_exit_in_a_named_plugin_is_an_error_naming_it(plugin_dir, monkeypatch, capsys):
    from labelwise.cli import main

    (plugin_dir / "quits.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setenv("LABELWISE_PLUGINS", "quits")
    assert main(["strategies"]) == 2  # it used to end the command silently
    err = capsys.readouterr().err
    assert err == ("error: the plugin 'quits' called sys.exit(3) while loading; a plugin module "
                   "must only register strategies or learners (named in LABELWISE_PLUGINS)\n")


def test_a_broken_entry_point_of_another_package_is_a_warning(plugin_dir, monkeypatch, capsys):
    import importlib.metadata

    from labelwise.cli import main

    (plugin_dir / "theirs.py").write_text("raise ImportError('needs numpy<1')\n")
    (plugin_dir / "their_exit.py").write_text("raise SystemExit\n")
    eps = importlib.metadata.EntryPoints([
        importlib.metadata.EntryPoint("x", "theirs:register", "labelwise.plugins"),
        importlib.metadata.EntryPoint("y", "their_exit", "labelwise.plugins")])
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: eps if group == "labelwise.plugins" else [])
    monkeypatch.delenv("LABELWISE_PLUGINS", raising=False)
    assert main(["strategies"]) == 0  # the command goes on
    out, err = capsys.readouterr()
    assert "margin" in out
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0] == (
        "labelwise: warning: cannot load the plugin 'theirs': ImportError: needs numpy<1 (an "
        "entry point of the group 'labelwise.plugins' of an installed package); going on "
        "without it")
    assert lines[1].startswith("labelwise: warning: the plugin 'their_exit' called sys.exit(")
    assert main(["strategies"]) == 0 and capsys.readouterr().err == ""  # warned once


def test_registering_over_a_built_in_needs_replace(plugin_dir):
    import numpy as np

    from labelwise import register_strategy
    from labelwise.learners import LEARNERS, register_learner
    from labelwise.strategies import get_strategy

    margin = get_strategy("margin")
    score = lambda ctx: np.zeros(len(ctx.X_candidates))  # noqa: E731
    with pytest.raises(LabelwiseError, match="^strategy 'margin' is built in: choose another "
                                             "name, or pass replace=True to register over it$"):
        register_strategy("margin", score=score)
    assert get_strategy("margin") is margin
    assert register_strategy("margin", score=score, replace=True) is get_strategy("margin")
    with pytest.raises(LabelwiseError, match="^learner 'logreg' is built in"):
        register_learner("logreg", LEARNERS["svm"].cls, "an SVM in disguise")
    register_learner("logreg", LEARNERS["svm"].cls, "an SVM on purpose", replace=True)
    assert LEARNERS["logreg"].cls is LEARNERS["svm"].cls
    register_strategy("mine", score=score)  # a plugin's own name may be registered again
    register_strategy("mine", score=score)


def test_a_plugin_overriding_a_built_in_by_accident_is_named(plugin_dir, monkeypatch):
    (plugin_dir / "clash.py").write_text(
        "from labelwise import register_strategy\n"
        "register_strategy('entropy', score=lambda ctx: ctx.proba[:, 0], needs={'proba'})\n")
    monkeypatch.setenv("LABELWISE_PLUGINS", "clash")
    with pytest.raises(LabelwiseError, match="plugin 'clash': LabelwiseError: strategy "
                                             "'entropy' is built in"):
        load_plugins()


def test_a_strategy_without_a_paper_is_listed(plugin_dir, monkeypatch, capsys):
    from labelwise.cli import main

    (plugin_dir / "nopaper.py").write_text(
        "from labelwise import register_strategy\n"
        "register_strategy('first_col', needs={'proba'}, score=lambda ctx: ctx.proba[:, 0])\n"
        "register_strategy('second_col', needs={'proba'}, description='column 1',\n"
        "                  score=lambda ctx: ctx.proba[:, 1], paper='smith2031, khosla2022')\n")
    monkeypatch.setenv("LABELWISE_PLUGINS", "nopaper")
    assert main(["strategies"]) == 0  # it used to fail: "no paper key given"
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert lines["first_col"].endswith("[needs: proba; no paper given]")
    assert lines["second_col"].endswith("column 1 [needs: proba; smith2031; Khosla et al. 2022]")
