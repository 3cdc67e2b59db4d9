"""A real browser labels by keyboard: Playwright drives Debian's chromium (/usr/bin/chromium).

Skips cleanly when the ``playwright`` package or chromium is missing (CI installs both: the
``dev`` extra and ``.ci/run``'s apt packages). ``playwright install`` is never needed: the test
launches the system chromium. The server runs in a thread on 127.0.0.1 with bounded waits.
The personal-link run saves the screenshot the README shows (``docs/labeling-app.png`` when
``LABELWISE_UPDATE_SCREENSHOT`` is set).
"""

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")
if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from labelwise.app.annotators import add_annotator, personal_link  # noqa: E402
from labelwise.app.create import init_project  # noqa: E402
from labelwise.app.project import Project  # noqa: E402
from labelwise.app.server import create_app  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DOCS = Path(__file__).resolve().parents[2] / "docs"


class ServerThread:
    def __init__(self, project: Project):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(create_app(project), host="127.0.0.1", port=self.port,
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started, "server did not start"
        return f"http://127.0.0.1:{self.port}/"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)


def wait_until(check, seconds: float = 90.0) -> None:
    """Wait for a state of the server (bounded, generous on a loaded 2-core machine)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {check.__doc__}"
        time.sleep(0.05)


DIGIT_NAMES = {0: "zero", 1: "one", 2: "two"}


def digit_truth(item_id: str) -> str:
    """The true class of an unlabeled digit image, from its file name (its row in the set)."""
    from sklearn.datasets import load_digits

    return DIGIT_NAMES[int(load_digits().target[int(Path(item_id).stem)])]


def digit_images(root: Path) -> Path:
    """Digits 0/1/2 from scikit-learn's wheel, upscaled to 64x64 PNGs: 5 labeled per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    names = DIGIT_NAMES
    seen = dict.fromkeys(names, 0)
    for i, (img, y) in enumerate(zip(d.images, d.target, strict=True)):
        if y not in names or i > 400:
            continue
        pix = Image.fromarray((255 - img * 16).clip(0, 255).astype(np.uint8)).resize(
            (64, 64), Image.NEAREST)
        if seen[y] < 5:
            (root / names[y]).mkdir(parents=True, exist_ok=True)
            pix.save(root / names[y] / f"{i}.png")
        else:
            pix.save(root / f"{i:04d}.png")
        seen[y] += 1
    return root


def label_a_batch_by_keyboard(url: str, project: Project):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 640})
            page.set_default_timeout(90_000)  # bounded, but generous on a loaded 2-core machine
            page.goto(url + "?annotator=tester")
            item = page.locator("#item")

            def current():
                page.wait_for_function(
                    "document.querySelector('#item').dataset.idx !== ''")
                return item.get_attribute("data-idx"), item.get_attribute("data-round")

            def press_and_wait(key, old):
                page.keyboard.press(key)
                page.wait_for_function(
                    f"document.querySelector('#item').dataset.idx !== '{old}' && "
                    "document.querySelector('#item').dataset.idx !== ''")

            first, round0 = current()
            batch = project.progress()["batch_size"]
            press_and_wait("1", first)
            second, _ = current()
            page.keyboard.press("u")  # undo: the first item comes back
            page.wait_for_function(f"document.querySelector('#item').dataset.idx === '{first}'")
            assert project.progress()["n_labels"] == project.status()["labels"]
            labels_before = len(project.active_labels())
            press_and_wait("2", first)  # relabel it with the second class
            for _ in range(batch - 1):  # the rest of the batch
                idx, rnd = current()
                assert rnd == round0
                press_and_wait("1", idx)
            idx, rnd = current()
            assert int(rnd) == int(round0) + 1  # the next batch arrived
            assert len(project.active_labels()) == labels_before + batch
            mine = [r for r in project.active_labels() if r["annotator"] == "tester"]
            assert len(mine) == batch and {r["item"] for r in mine if r["label"] ==
                                           project.classes[1]} == {int(first)}
            assert page.locator("#classes button").count() == len(project.classes)
        finally:
            browser.close()


@pytest.mark.slow
def test_browser_labels_an_image_batch_by_keyboard(tmp_path):
    data = digit_images(tmp_path / "digits")
    project = init_project(tmp_path / "proj", data, encoder="identity", batch_size=4,
                           progress=False)
    with ServerThread(project) as url:
        label_a_batch_by_keyboard(url, project)


@pytest.mark.slow
def test_browser_personal_link_labels_as_its_annotator(tmp_path):
    """Token mode end to end: the page loads from a personal link (its assets need no token),
    Enter accepts the model's suggestion, and the labels name the link's annotator; another
    annotator's token cannot undo them."""
    import httpx

    data = digit_images(tmp_path / "digits")
    project = init_project(tmp_path / "proj", data, encoder="identity", batch_size=4,
                           progress=False)
    alice, bob = add_annotator(project, "alice"), add_annotator(project, "bob")
    shot = tmp_path / "labeling-app.png"
    with ServerThread(project) as url, sync_api.sync_playwright() as pw:
        # the project init_project returns holds no model yet (the first batch was ranked by
        # the one that built it): the page suggests a class only once the server's worker has
        # fitted one, and an item keeps what it was served with. Wait for that state, or on a
        # loaded machine the first item comes without a suggestion and the test hangs on it.
        def has_model():
            """the server's worker to fit the first model"""
            return project.has_model()

        wait_until(has_model)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 600})
            page.set_default_timeout(90_000)
            port = int(url.rstrip("/").rsplit(":", 1)[1])
            page.goto(personal_link(alice, "127.0.0.1", port) + "&annotator=mallory")
            item = page.locator("#item")
            page.wait_for_function("document.querySelector('#item').dataset.idx !== ''")
            assert page.input_value("#annotator") == "alice"  # the link names the annotator
            assert page.locator("#annotator").get_attribute("readonly") is not None
            first = item.get_attribute("data-idx")
            suggested = page.locator("#classes button.suggested").get_attribute("data-label")
            assert page.locator("#suggestion").inner_text().startswith(
                f"model suggests {suggested} (")
            assert page.locator("#why").inner_text().startswith("why this item: ")
            page.keyboard.press("Enter")  # accept the suggestion
            page.wait_for_function(f"document.querySelector('#item').dataset.idx !== '{first}' "
                                   "&& document.querySelector('#item').dataset.idx !== ''")
            second = item.get_attribute("data-idx")
            page.keyboard.press("2")
            page.wait_for_function(f"document.querySelector('#item').dataset.idx !== '{second}'"
                                   " && document.querySelector('#item').dataset.idx !== ''")
            got = [(r["item"], r["label"], r["annotator"]) for r in project.active_labels()
                   if r["source"] == "app"]
            assert got == [(int(first), suggested, "alice"),
                           (int(second), project.classes[1], "alice")]
            # for the README's picture only: label truthfully until the chart has three points
            for _ in range(16 if os.environ.get("LABELWISE_UPDATE_SCREENSHOT") else 0):
                if page.locator("#chart circle").count() >= 3:
                    break
                old = item.get_attribute("data-idx")
                right = digit_truth(project.conn.execute(
                    "SELECT item_id FROM items WHERE idx = ?", (int(old),)).fetchone()[0])
                shown = page.locator(f"#classes button.suggested[data-label='{right}']")
                page.keyboard.press("Enter" if shown.count() else
                                    str(project.classes.index(right) + 1))
                page.wait_for_function(
                    f"document.querySelector('#item').dataset.idx !== '{old}' && "
                    "document.querySelector('#item').dataset.idx !== ''")
            page.wait_for_function(
                "document.querySelector('#image').complete && "
                "!document.querySelector('#suggestion').hidden && "
                "!document.querySelector('#why').hidden && "
                "document.querySelectorAll('#chart circle').length > 0")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
        before = project.active_labels()
        assert {r["annotator"] for r in before if r["source"] == "app"} == {"alice"}
        r = httpx.post(url + "api/undo", json={"annotator": "alice"},
                       headers={"X-Labelwise-Token": bob}, timeout=30)
        assert r.status_code == 409  # bob has no label of his own, and alice's are not his
        assert httpx.post(url + "api/undo", json={}, timeout=30).status_code == 401
        assert project.active_labels() == before
    assert shot.stat().st_size > 10_000
    if os.environ.get("LABELWISE_UPDATE_SCREENSHOT"):
        shutil.copy(shot, DOCS / "labeling-app.png")


@pytest.mark.slow
def test_browser_labels_a_text_batch_by_keyboard(tmp_path, hash_text_encoder):
    rows = [{"text": ("the match ended with a late goal", "a bowl of soup with bread")[i % 2]
             + f" ({i})", "label": ("sports", "food")[i % 2] if i < 6 else None}
            for i in range(30)]
    data = tmp_path / "texts.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    project = init_project(tmp_path / "tp", data, encoder="test-hash", batch_size=3,
                           progress=False)
    with ServerThread(project) as url:
        label_a_batch_by_keyboard(url, project)


@pytest.mark.slow
def test_browser_keys_past_nine_classes_are_letters(tmp_path):
    from labelwise.app.create import create_project

    classes = [f"c{i}" for i in range(12)]
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    project = create_project(tmp_path / "many", [f"i{i}" for i in range(40)], X, classes,
                             batch_size=4)
    with ServerThread(project) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(90_000)
            page.goto(url + "?annotator=kim")
            page.wait_for_function("document.querySelector('#item').dataset.idx !== ''")
            keys = page.locator("#classes button kbd").all_inner_texts()
            assert "".join(keys) == "123456789abc"
            assert page.locator("#suggestion").is_hidden()  # cold start: no model, no guess
            assert page.locator("#why").inner_text() == \
                "why this item: typical of a dense region not yet labeled (to get started)"
            first = page.locator("#item").get_attribute("data-idx")
            page.keyboard.press("Enter")  # nothing to accept: nothing happens
            page.keyboard.press("b")
            page.wait_for_function(f"document.querySelector('#item').dataset.idx !== '{first}'")
        finally:
            browser.close()
    assert [(r["item"], r["label"]) for r in project.active_labels()] == [(int(first), "c10")]


@pytest.mark.slow
def test_browser_model_line_says_a_model_was_warm_started(tmp_path):
    from labelwise.app.create import create_project

    X = np.vstack([np.zeros((20, 3)), np.full((20, 3), 6.0)]).astype(np.float32)
    X += np.random.default_rng(0).normal(scale=0.5, size=X.shape).astype(np.float32)
    labels = ["a", "a", "a"] + [None] * 34 + ["b", "b", "b"]
    project = create_project(tmp_path / "warm", [f"i{i}" for i in range(40)], X, ["a", "b"],
                             labels=labels, batch_size=4, warm_start=True)
    with ServerThread(project) as url, sync_api.sync_playwright() as pw:
        def has_model():
            """the server's worker to fit the first model"""
            return project.has_model()

        wait_until(has_model)
        for _ in range(4):  # the next models start from the one before
            item = project.next_item("kim")["item"]
            project.label(item["idx"], "a" if item["idx"] < 20 else "b", "kim")

        def warm_started():
            """a model warm-started from the one before it"""
            ranking = project.latest_ranking()
            return ranking is not None and ranking.info.get("warm_from") is not None

        wait_until(warm_started)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(90_000)
            page.goto(url + "?annotator=kim")
            page.wait_for_function("/warm-started from the one on \\d+/.test("
                                   "document.querySelector('#model').textContent)")
            assert page.locator("#model").is_visible()
            assert page.locator("#model").get_attribute("title").startswith("warm start: ")
        finally:
            browser.close()
