"""Label Studio's formats: the labeling config, tasks, annotators and local-file URLs.

Label Studio (https://labelstud.io) keeps each item as a *task* ``{"data": {...}, "annotations":
[...], "predictions": [...]}``. A classification result names the control tag that made it
(``from_name``: a ``<Choices>`` tag), the object tag it labels (``to_name``: a ``<Text>`` or
``<Image>`` tag, whose ``value="$key"`` says which key of ``data`` holds the item) and the choice::

    {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["cat"]}}

What this module decides for labelwise's exports (``labelwise export --format label-studio``):

- the config has one ``<Choices name="label">`` over ``<Text name="text" value="$text">`` or
  ``<Image name="image" value="$image">``, one ``<Choice>`` per class, in the project's order;
- an annotation names who labeled it in its result's ``meta`` (``{"text": ["labeled by alice
  in labelwise at <time>"], "annotator": "alice", "labeled_at": "<time>"}``; Label Studio keeps
  it, shows it as the region's meta and exports it back) and has no ``completed_by``: Label
  Studio credits it to the user who imports, whatever the annotators' names. Only when asked
  (``credit``: name -> e-mail of an existing Label Studio user, ``labelwise export
  --label-studio-user NAME=EMAIL``) is an annotation credited to that user
  (``completed_by: {"email": ...}``); Label Studio refuses e-mails it does not know;
- images are served by Label Studio's local-files storage: ``/data/local-files/?d=<path>``, the
  path relative to its ``LOCAL_FILES_DOCUMENT_ROOT`` (by default the parent of the project's image
  folder, which must then be added to the project as a local-files storage), or any URL prefix
  that serves the image folder.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, quote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from labelwise.validation import LabelwiseError

#: the ``<Choices>`` tag of exported configs (``from_name`` of every result)
CHOICES_NAME = "label"
#: how Label Studio's local-files storage addresses a file below its document root
LOCAL_FILES_PREFIX = "/data/local-files/?d="
#: object tags a classification config may label (tag name -> modality)
OBJECT_TAGS = {"text": "text", "hypertext": "text", "paragraphs": "text", "image": "image"}

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class LabelConfig:
    """What a classification labeling config says.

    Attributes:
        from_name: the ``<Choices>`` tag's name.
        to_name: the object tag it labels.
        modality: ``"text"`` or ``"image"`` (the object tag's kind).
        value_key: the key of a task's ``data`` that holds the item (``value="$key"``).
        classes: the ``<Choice>`` values, in order.
    """

    from_name: str
    to_name: str
    modality: str
    value_key: str
    classes: tuple[str, ...]


def label_config(classes: Iterable[str], modality: str) -> str:
    """The labeling config XML for ``classes`` over a text or image item (single choice)."""
    kind = "image" if modality == "image" else "text"
    tag = "Image" if kind == "image" else "Text"
    choices = "\n".join(f"    <Choice value={quoteattr(str(c))}/>" for c in classes)
    return (f'<View>\n  <{tag} name="{kind}" value="${kind}"/>\n'
            f'  <Choices name="{CHOICES_NAME}" toName="{kind}" choice="single" '
            f'showInline="true">\n{choices}\n  </Choices>\n</View>\n')


def parse_label_config(xml: str) -> LabelConfig:
    """Read the first ``<Choices>`` tag of a labeling config and the object tag it labels.

    Raises:
        LabelwiseError: unparsable XML, no ``<Choices>``, fewer than 2 choices, or a ``toName``
            that names no text or image tag.
    """
    if not isinstance(xml, str):
        raise LabelwiseError(f"the labeling config must be XML text, not {type(xml).__name__}")
    try:
        root = ElementTree.fromstring(xml or "")
    except ElementTree.ParseError as exc:
        raise LabelwiseError(f"cannot parse the labeling config: {exc}") from None
    tags = list(root.iter())
    choices = next((t for t in tags if t.tag.lower() == "choices"), None)
    if choices is None:
        raise LabelwiseError("the labeling config has no <Choices> tag: labelwise classifies "
                             "with single-choice labels")
    classes = tuple(c.get("value", "") for c in choices.iter() if c.tag.lower() == "choice")
    if len(classes) < 2:
        raise LabelwiseError(f"the <Choices> tag {choices.get('name')!r} has {len(classes)} "
                             "choice(s); give at least 2")
    to_name = (choices.get("toName") or "").split(",")[0]
    target = next((t for t in tags if t.get("name") == to_name), None)
    if target is None or target.tag.lower() not in OBJECT_TAGS \
            or not (target.get("value") or "").startswith("$"):
        raise LabelwiseError(f"the <Choices> tag labels {to_name!r}, which is not a <Text> or "
                             "<Image> tag with value=\"$key\"")
    return LabelConfig(choices.get("name", ""), to_name, OBJECT_TAGS[target.tag.lower()],
                       target.get("value")[1:], classes)


def parse_credit(pairs) -> dict[str, str]:
    """``["alice=alice@corp.example", ...]`` -> {annotator name: e-mail of a Label Studio user}.

    Raises:
        LabelwiseError: a pair without ``=``, an e-mail that is not one, a name given twice.
    """
    out: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, email = str(pair).rpartition("=")
        name, email = name.strip(), email.strip()
        if not sep or not name or not _EMAIL.fullmatch(email):
            raise LabelwiseError(f"{pair!r}: give NAME=EMAIL, the e-mail of an existing Label "
                                 "Studio user")
        if name in out:
            raise LabelwiseError(f"annotator {name!r} is mapped twice")
        out[name] = email
    return out


def local_files_url(path: str | Path, document_root: str | Path) -> str:
    """Label Studio's URL of the file ``path`` below ``document_root`` (relative to its host)."""
    root, p = Path(document_root).resolve(), Path(path).resolve()
    if not p.is_relative_to(root) or p == root:
        raise LabelwiseError(f"{p} is not inside the local-files document root {root}")
    return LOCAL_FILES_PREFIX + quote(p.relative_to(root).as_posix(), safe="/")


def local_files_path(url: str, document_root: str | Path) -> Path:
    """The file a ``/data/local-files/?d=...`` URL names (the inverse of
    :func:`local_files_url`); the path may not leave ``document_root``."""
    root = Path(document_root).resolve()
    rel = (parse_qs(urlsplit(url).query).get("d") or [""])[0]
    target = (root / PurePosixPath(rel.lstrip("/"))).resolve()
    if not rel or not target.is_relative_to(root):
        raise LabelwiseError(f"{url!r} names no file inside the document root {root}")
    return target


def image_urls(data_root: str | Path, document_root: str | Path | None = None,
               url_prefix: str | None = None) -> Callable[[str], str]:
    """A function from an image's path (relative to ``data_root``) to the URL Label Studio shows.

    With ``url_prefix``: the prefix joined with the path. Otherwise a local-files URL below
    ``document_root`` (default: the parent of ``data_root``), which must hold ``data_root`` as a
    subfolder: Label Studio serves a file only from a local-files storage strictly inside it.
    """
    if url_prefix:
        base = url_prefix.rstrip("/") + "/"
        return lambda rel: base + quote(PurePosixPath(rel).as_posix(), safe="/")
    data = Path(data_root).resolve()
    root = Path(document_root).resolve() if document_root is not None else data.parent
    if not data.is_relative_to(root) or data == root:
        raise LabelwiseError(f"the image folder {data} must be a subfolder of the local-files "
                             f"document root {root} (Label Studio serves no files from the root "
                             "itself); give another --document-root or an --image-url prefix")
    return lambda rel: local_files_url(data / rel, root)


def choice_result(label: str, config: LabelConfig) -> list[dict]:
    """The result list of a single-choice label."""
    return [{"from_name": config.from_name, "to_name": config.to_name, "type": "choices",
             "value": {"choices": [str(label)]}}]


def annotation_label(annotation: dict, config: LabelConfig) -> str | None:
    """The class an annotation gives (its first choice of ``config``'s Choices), or None for a
    skipped (cancelled) annotation, one without that choice, or a choice outside the classes."""
    if annotation.get("was_cancelled"):
        return None
    for r in annotation.get("result") or []:
        if not isinstance(r, dict):
            continue
        if r.get("from_name") == config.from_name and r.get("type") == "choices":
            value = r.get("value") if isinstance(r.get("value"), dict) else {}
            chosen = value.get("choices") or []
            if isinstance(chosen, list) and chosen and isinstance(chosen[0], str) \
                    and chosen[0] in config.classes:
                return chosen[0]
    return None


def int_id(value, what: str) -> int:
    """An id Label Studio sends (an integer, or its digits as a string) as an int.

    Raises:
        LabelwiseError: anything else (``"abc"``, ``1.5``, ``true``, null), naming ``what``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise LabelwiseError(f"{what} id {value!r} is not an integer: send Label Studio's ids")


def check_annotation(a) -> dict:
    """``a`` if it is shaped as a Label Studio annotation (an object with an integer ``id``, a
    ``result`` list of objects or null, a ``task`` id or task object); else a LabelwiseError."""
    if not isinstance(a, dict):
        raise LabelwiseError(f"an annotation must be an object, not {type(a).__name__}")
    aid = int_id(a.get("id"), "annotation")
    result = a.get("result")
    if result is not None and (not isinstance(result, list)
                               or not all(isinstance(r, dict) for r in result)):
        raise LabelwiseError(f"annotation {aid}: 'result' must be a list of objects")
    for r in result or []:
        if r.get("value") is not None and not isinstance(r["value"], dict):
            raise LabelwiseError(f"annotation {aid}: a result's 'value' must be an object")
    task = a.get("task")
    if isinstance(task, dict):
        int_id(task.get("id"), f"annotation {aid}'s task")
    elif task is not None:
        int_id(task, f"annotation {aid}'s task")
    return a


def check_task(t) -> dict:
    """``t`` if it is shaped as a Label Studio task (an object with an integer ``id``, ``data``
    an object, ``annotations`` a list of annotations or null); else a LabelwiseError."""
    if not isinstance(t, dict):
        raise LabelwiseError(f"a task must be an object, not {type(t).__name__}")
    tid = int_id(t.get("id"), "task")
    if not isinstance(t.get("data", {}), dict):
        raise LabelwiseError(f"task {tid}: 'data' must be an object")
    annotations = t.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, list):
            raise LabelwiseError(f"task {tid}: 'annotations' must be a list")
        for a in annotations:
            check_annotation(a)
    return t


def timestamp(seconds: float) -> str:
    """Label Studio's UTC time format."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def make_task(data: dict, labels: Iterable[dict], config: LabelConfig,
              prediction: dict | None = None, credit: dict[str, str] | None = None) -> dict:
    """One task: ``data``, an annotation per label (``{"label", "annotator", "created"}``) and
    optionally one prediction (``{"label", "score", "model_version"}``). Who labeled goes in the
    result's ``meta``; ``credit`` (name -> e-mail) credits the annotators it names to those
    Label Studio users (see the module docstring)."""
    credit = credit or {}
    annotations = []
    for r in labels:
        when = timestamp(r["created"])
        result = choice_result(r["label"], config)
        result[0]["meta"] = {"text": [f"labeled by {r['annotator']} in labelwise at {when}"],
                             "annotator": str(r["annotator"]), "labeled_at": when}
        a = {"result": result, "created_at": when}
        if r["annotator"] in credit:
            a["completed_by"] = {"email": credit[r["annotator"]]}
        annotations.append(a)
    task = {"data": data, "annotations": annotations}
    if prediction is not None:
        task["predictions"] = [{"model_version": prediction["model_version"],
                                "score": prediction["score"],
                                "result": choice_result(prediction["label"], config)}]
    return task


def task_annotators(tasks: list[dict]) -> list[str]:
    """The annotators the annotations of exported ``tasks`` name (their results' meta), sorted."""
    return sorted({r["meta"]["annotator"] for t in tasks for a in t.get("annotations", [])
                   for r in a["result"] if "annotator" in r.get("meta", {})})


def config_path(out: str | Path) -> Path:
    """Where the labeling config of the export ``out`` goes: ``labels.json`` ->
    ``labels.label_config.xml``."""
    out = Path(out)
    return out.with_name(out.stem + ".label_config.xml")


def write_export(out: str | Path, tasks: list[dict], config_xml: str,
                 credit: dict[str, str] | None = None) -> dict:
    """Write the tasks (a JSON list) to ``out`` and the config beside it, each replaced whole.

    Args:
        credit: the name -> e-mail map the tasks were made with; a name that labeled nothing is
            refused (a typo would silently credit nobody).

    Returns:
        ``{"label_config": path, "annotators": sorted names, "credited": sorted e-mails}``.
    """
    out, xml_path = Path(out), config_path(out)
    from labelwise.io import atomic_write

    names = task_annotators(tasks)
    unknown = sorted(set(credit or {}) - set(names))
    if unknown:
        raise LabelwiseError(f"no labels by {', '.join(map(repr, unknown))} to credit; the "
                             f"annotators are: {', '.join(names) or 'none'}")
    for path, text in ((xml_path, config_xml),
                       (out, json.dumps(tasks, ensure_ascii=False, indent=1))):
        with atomic_write(path) as f:  # fsynced, renamed; nothing half-written on a full disk
            f.write(text)
    emails = {a["completed_by"]["email"] for t in tasks for a in t["annotations"]
              if "completed_by" in a}
    return {"label_config": str(xml_path), "annotators": names, "credited": sorted(emails)}
