"""`labelwise run --learner finetune-*` reads raw items: the data plumbing and its errors."""

import numpy as np
import pytest

from labelwise import LabelwiseError
from labelwise.data import load_dataset
from labelwise.experiments.simulate import simulate


def test_items_encoder_gives_index_columns_into_pool_then_test_items():
    ds = load_dataset("digits", encoder="items")
    n, m = len(ds.y_train), len(ds.y_test)
    assert ds.X_train.shape == (n, 1) and ds.X_test.shape == (m, 1)
    items = ds.info["items"]
    assert len(items) == n + m
    i, j = int(ds.X_train[5, 0]), int(ds.X_test[3, 0])
    np.testing.assert_array_equal(items[i], ds.raw_train[5])
    np.testing.assert_array_equal(items[j], ds.raw_test[3])


def test_items_only_with_fine_tuning_learners(tmp_path):
    with pytest.raises(LabelwiseError, match="only for the finetune-\\* learners, not 'logreg'"):
        simulate("digits", ["random"], seeds=1, rounds=1, encoder="items", progress=False)


def test_fine_tuning_learners_need_no_encoder(tmp_path):
    pytest.importorskip("torch", reason="the finetune-* learners need torch")
    with pytest.raises(LabelwiseError, match="leave out --encoder"):
        simulate("digits", ["random"], seeds=1, rounds=1, learner="finetune-image",
                 encoder="efficientnet-lite0", progress=False)


def test_features_only_data_cannot_be_fine_tuned():
    with pytest.raises(LabelwiseError, match="no raw images or texts to fine-tune on"):
        load_dataset("breast_cancer", encoder="items")
