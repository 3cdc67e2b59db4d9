"""What the backend reads from a Label Studio task: its features, under checked settings."""

import numpy as np
import pytest

from labelwise.integrations.label_studio import label_config, parse_label_config
from labelwise.integrations.label_studio_tasks import (
    BackendSettings,
    read_task_image,
    task_features,
)
from labelwise.validation import LabelwiseError

CONFIG = parse_label_config(label_config(["a", "b"], "text"))


def test_settings_check():
    BackendSettings(strategy="bald", learner="mlp").check()
    with pytest.raises(LabelwiseError, match="trains on the raw items.*logreg"):
        BackendSettings(learner="finetune-text").check()
    with pytest.raises(LabelwiseError, match="needs the learner capability 'samples'"):
        BackendSettings(strategy="bald").check()
    with pytest.raises(LabelwiseError, match="cold-start strategy 'margin' needs a model"):
        BackendSettings(cold_start="margin").check()
    with pytest.raises(LabelwiseError, match="unknown learner"):
        BackendSettings(learner="nope").check()


def test_features_from_task_data_or_encoded_texts(tmp_path, hash_text_encoder):
    tasks = [{"id": 1, "data": {"text": "goal match", "features": [1, 2]}},
             {"id": 2, "data": {"text": "soup", "features": [3, 4]}}]
    s = BackendSettings(cache_dir=str(tmp_path))
    X, kept, refused = task_features(tasks, CONFIG, s)
    assert X.tolist() == [[1, 2], [3, 4]] and kept == tasks and refused == {}
    # a task that cannot give a row is refused alone; the others are kept
    X, kept, refused = task_features([tasks[0], {"id": 3, "data": {"text": "x"}},
                                      {"id": 4, "data": {"features": [1, float("nan")]}}],
                                     CONFIG, s)
    assert X.tolist() == [[1, 2]] and [t["id"] for t in kept] == [1]
    assert refused == {3: "task 3: no 'features' in its data, as the other tasks have",
                       4: "task 4: data 'features' must hold finite numbers (no null, NaN or "
                          "inf)"}
    X, kept, refused = task_features([{"id": 3, "data": {"other": "x"}}], CONFIG, s)
    assert X.shape == (0, 0) and refused == {
        3: "task 3: no 'text' in its data (the labeling config reads $text)"}
    texts = [{"id": 1, "data": {"text": "goal goal"}}, {"id": 2, "data": {"text": "soup"}}]
    X, _, _ = task_features(texts, CONFIG, BackendSettings(encoder=hash_text_encoder,
                                                           cache_dir=str(tmp_path)))
    assert X.shape == (2, 16) and X[0].sum() == 2 and X[1].sum() == 1  # word counts
    assert any((tmp_path / "embeddings" / hash_text_encoder).iterdir())  # cached


def test_local_files_images(tmp_path):
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(np.full((4, 4, 3), 60 * i, np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    config = parse_label_config(label_config(["dark", "light"], "image"))
    tasks = [{"id": i, "data": {"image": f"/data/local-files/?d=imgs/{i}.png"}} for i in range(2)]
    X, _, _ = task_features(tasks, config, BackendSettings(encoder="identity",
                                                           document_root=str(tmp_path),
                                                           cache_dir=str(tmp_path / "c")))
    assert X.shape == (2, 48) and X[0].max() == 0 and X[1].min() == pytest.approx(60 / 255)
    with pytest.raises(LabelwiseError, match="--document-root"):
        read_task_image(tasks[0]["data"]["image"], None)
    with pytest.raises(LabelwiseError, match="names no file inside"):
        read_task_image("/data/local-files/?d=../../etc/passwd", str(tmp_path))
    with pytest.raises(LabelwiseError, match="cannot read task image"):
        read_task_image("/data/upload/1/x.png", str(tmp_path))
