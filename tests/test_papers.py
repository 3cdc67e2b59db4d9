"""The table of cited works: short citations, references, key lists, and docs/methods.md's list."""

import re
from pathlib import Path

import pytest

from labelwise import papers
from labelwise.validation import LabelwiseError

METHODS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "methods.md"


def test_short_citations_of_the_five_papers():
    assert list(papers.PAPERS) == ["pretrained", "deep-al-study", "khosla2022", "aggarwal2022",
                                   "krishnan2021"]
    assert papers.cite("khosla2022") == "Khosla et al. 2022"
    assert papers.cite("aggarwal2022") == "Aggarwal et al. 2022"
    assert papers.cite("krishnan2021") == "Krishnan et al. 2021"
    # anonymous works are cited by title: "(year)" in running text, ", year" inside parentheses
    assert papers.cite("pretrained") == "Pretrained Models Are Good Active Learners (2021)"
    assert (papers.cite("pretrained", parenthetical=True)
            == "Pretrained Models Are Good Active Learners, 2021")
    assert papers.cite("deep-al-study") == "An Empirical Study of Deep Active Learning (2021)"


def test_author_count_decides_the_short_form():
    one = papers.Work("x", ("Ada Lovelace",), 1843, "Notes", "Taylor's Scientific Memoirs")
    assert one.cite() == "Lovelace 1843"
    assert papers.cite("sener2018") == "Sener & Savarese 2018"
    assert papers.cite("bloodgood2009") == "Bloodgood & Vijay-Shanker 2009"
    assert papers.cite("zhu2008") == "Zhu et al. 2008"  # three authors: et al.
    assert papers.cite("sener2018", parenthetical=True) == "Sener & Savarese 2018"


def test_reference_lists_every_author_title_and_venue():
    ref = papers.reference("khosla2022")
    assert ref.startswith("Savya Khosla, Chew Kin Whye, Jordan T. Ash, Cyril Zhang, Kenji "
                          "Kawaguchi and Alex Lamb (2022). Neural Active Learning on "
                          "Heteroskedastic Distributions. arXiv:2211.00928.")
    assert papers.reference("pretrained").startswith(
        "Anonymous (2021). Pretrained Models Are Good Active Learners.")
    assert papers.reference("yoo2019") == ("Donggeun Yoo and In So Kweon (2019). Learning Loss "
                                           "for Active Learning. Proceedings of CVPR 2019. "
                                           "The Learning Loss baseline.")


def test_cite_many_keeps_order_and_checks_every_key():
    assert (papers.cite_many("khosla2022, aggarwal2022")
            == "Khosla et al. 2022; Aggarwal et al. 2022")
    assert (papers.cite_many(" pretrained,krishnan2021 ")
            == "Pretrained Models Are Good Active Learners, 2021; Krishnan et al. 2021")
    assert papers.split_keys("ash2020, khosla2022") == ["ash2020", "khosla2022"]
    with pytest.raises(LabelwiseError, match="unknown paper key 'khosla2023'.*khosla2022"):
        papers.cite_many("khosla2022, khosla2023")
    with pytest.raises(LabelwiseError, match="no paper key"):
        papers.cite_many(" , ")


def test_keys_are_unique_and_tables_disjoint():
    assert not set(papers.PAPERS) & set(papers.CITED)
    assert len(papers.WORKS) == len(papers.PAPERS) + len(papers.CITED)
    for key, w in papers.WORKS.items():
        assert w.key == key and re.fullmatch(r"[a-z][a-z0-9-]*", key), key


def _reference_section() -> list[str]:
    text = METHODS_PAGE.read_text(encoding="utf-8")
    section = text.split("\n## References\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("- ")]


def test_methods_md_reference_list_is_the_table():
    """docs/methods.md's reference list is written by hand: it must hold every key of the table,
    each with exactly the table's reference, and nothing else."""
    lines = _reference_section()
    keys = [re.match(r"- `([^`]+)`", line).group(1) for line in lines]
    assert sorted(keys) == sorted(papers.WORKS)
    for key, line in zip(keys, lines, strict=True):
        assert line == f"- `{key}` ({papers.cite(key)}): {papers.reference(key)}", key


def test_methods_md_cites_only_known_works():
    """Every short citation in the body of docs/methods.md is one of the table's."""
    body = METHODS_PAGE.read_text(encoding="utf-8").split("\n## References\n", 1)[0]
    known = {papers.cite(k) for k in papers.WORKS} | {
        papers.cite(k, parenthetical=True) for k in papers.WORKS}
    found = set(re.findall(r"[A-Z][a-z]+(?: et al\.| & [A-Z][A-Za-z-]+)? (?:19|20)\d\d", body))
    assert found, "no citations found"
    assert found <= known, found - known


def test_registry_and_suites_cite_known_keys(capsys):
    """Every strategy and benchmark suite names its papers by keys of the table, and
    ``labelwise strategies`` prints them as short citations."""
    from labelwise.cli import main
    from labelwise.experiments.suites import SUITES
    from labelwise.strategies import STRATEGIES

    for name, strategy in STRATEGIES.items():
        assert papers.split_keys(strategy.paper), name
    for name, suite in SUITES.items():
        assert papers.split_keys(suite.paper), name
    from labelwise.strategies import get_strategy

    assert get_strategy("margin+ft").paper == "khosla2022, aggarwal2022"
    assert get_strategy("lhd+ft").paper == "khosla2022"
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    lhd = next(line for line in out.splitlines() if line.startswith("lhd "))
    assert lhd.endswith("[needs: ema; Khosla et al. 2022]")
