"""The grid runner's rows."""

from labelwise.experiments.simulate import _pseudo_label_columns


def test_ft_rounds_record_what_the_fine_tuning_did():
    assert _pseudo_label_columns(None) == {}
    cols = _pseudo_label_columns({"n_confident": 12, "skipped": False})
    assert cols == {"ft_pseudo_labels": 12.0, "ft_skipped": False}
    assert _pseudo_label_columns({"n_pseudo_labels": 3, "skipped": True})["ft_skipped"]
