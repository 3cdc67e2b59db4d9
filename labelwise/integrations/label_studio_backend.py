"""A Label Studio ML backend whose predictions rank the tasks in labelwise's pick order.

``labelwise label-studio-backend --strategy margin --learner logreg`` serves Label Studio's ML
backend protocol (connect it under a project's Settings -> Model). Routes (JSON; errors are
``{"error": "<one line>"}`` with status 400, 401 without the basic auth asked for, 413 for a body
over ``max_body``):

| route | Label Studio sends | the backend answers |
|---|---|---|
| ``GET /health`` (and ``/``) | | ``{"status": "UP", "model_class": "labelwise", ...}`` |
| ``POST /setup`` | ``{"project": "<id>.<time>", "schema": "<View>..."}`` | ``{"model_version"}`` |
| ``POST /predict`` | ``{"project", "label_config", "tasks"}`` | ``{"results", "model_version"}`` |
| ``POST /webhook`` | ``{"action": "ANNOTATION_CREATED", "annotation", "task", "project"}`` | 201 |
| ``POST /train`` | ``{"project", "label_config", "annotations": [tasks with annotations]}`` | 201 |

``/predict``'s tasks are Label Studio's (``{"id", "data", "annotations"}``); ``results`` holds one
``{"result", "score", "model_version"}`` per task, in order.

Each Label Studio project gets a :class:`~labelwise.integrations.label_studio_pool.TaskPool`
(its classes from the config's ``<Choices>``). ``/predict`` adds the tasks it is sent to the pool,
takes their annotations as their labels, and answers from the last engine round: the predicted
class as the result, and a score in [0, 1] whose ascending order is labelwise's pick order (see
that module). It never waits for a fit: a change of the labels or the pool starts the next round
in the background, and ``model_version`` (``labelwise-<strategy>-<learner>-<m>-labels-v<n>``:
the model's strategy, learner and number of labels, and the version of the pool it ranked)
names the round that answered, so Label Studio tells predictions of different rounds apart and
a later "Retrieve Predictions" gets the new one. Only before two classes are labeled (no fit,
just the cold-start order) are new tasks ranked at once. The webhook Label Studio creates with
the backend reports annotations created, updated (ANNOTATION_CREATED/UPDATED,
ANNOTATIONS_CREATED) and deleted (ANNOTATIONS_DELETED) as they happen; the backend answers at
once and retrains in the background. START_TRAINING and ``/train`` retrain on what they carry.
State lives in memory: after a restart the next "Retrieve Predictions" on every task (they
carry their annotations) restores it; with two classes among them that first answer has no
model yet (empty results, tied scores) while the model trains, and the one after has it.
Encoding many new texts or images can outlast Label Studio's wait for ``/predict``
(``ML_TIMEOUT_PREDICT``, 100 s): the backend finishes anyway, and the next retrieval finds them
encoded.

Hostile input: every body is checked before use (:func:`~labelwise.integrations.label_studio.
check_task`, ``check_annotation``): a malformed one gets a one-line 400, never a 500 or a
traceback in the log. A task whose features cannot be used (a null, another length, no item)
is refused alone (an empty result, and its reason under ``"refused"``), so it cannot poison
the project. Bodies over ``max_body`` (64 MiB) get 413 before they are read whole.

Access: on a loopback address there is no authentication; any other address needs
``auth="user:password"``, checked as HTTP basic auth on every route (Label Studio's "Basic
Authentication" of a model connection; its webhook then needs the same ``Authorization`` header).
"""

# no "from __future__ import annotations": FastAPI reads the routes' annotations at runtime,
# and BackgroundTasks is imported inside create_app.
import base64
import hmac
import threading

from labelwise.integrations.label_studio import (
    check_annotation,
    check_task,
    int_id,
    parse_label_config,
)
from labelwise.integrations.label_studio_pool import BackendSettings, TaskPool
from labelwise.net import (
    BodyTooLarge,
    is_loopback,
    read_capped_body,
    replaying,
    send_json_error,
)
from labelwise.validation import LabelwiseError

ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
#: the largest request body read (Label Studio's /predict of 1,000 tasks with 384 features
#: each is about 4 MB)
MAX_BODY = 64 * 2**20


def project_key(project) -> str:
    """The Label Studio project id in any of its forms: ``"3.1712345678"`` (``/setup``,
    ``/predict``), ``{"id": 3, ...}`` (webhooks) or ``3``."""
    if isinstance(project, dict):
        project = project.get("id")
    if project is None or isinstance(project, (bool, list, dict)) \
            or str(project).strip() == "":
        raise LabelwiseError("the request names no project")
    return str(int_id(str(project).split(".")[0], "project"))


def task_list(value, name: str) -> list[dict]:
    """``value`` checked as a list of Label Studio tasks."""
    if not isinstance(value, list):
        raise LabelwiseError(f"{name!r} must be a list of tasks")
    return [check_task(t) for t in value]


def annotation_list(value, name: str) -> list[dict]:
    """``value`` checked as a list of Label Studio annotations."""
    if not isinstance(value, list):
        raise LabelwiseError(f"{name!r} must be a list of annotations")
    return [check_annotation(a) for a in value]


def config_text(value, name: str) -> str | None:
    """A labeling config a request carries (None when absent); anything but text is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LabelwiseError(f"{name!r} must be the labeling config's XML text, not "
                             f"{type(value).__name__}")
    return value


class Guard:
    """ASGI middleware in front of every route: HTTP basic auth (when set), then a body size
    limit. The body is read here, chunk by chunk, before the app sees it: a body over the limit
    is answered 413 at once (by its Content-Length, or as soon as its chunks pass the limit),
    never read whole, and the app never starts a response it cannot finish."""

    def __init__(self, app, expected_auth: str | None, max_body: int):
        self.app, self.expected, self.max_body = app, expected_auth, max_body

    async def _answer(self, send, status: int, error: str, headers=()) -> None:
        await send_json_error(send, status, error, [(b"connection", b"close"), *headers])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.expected is not None and not hmac.compare_digest(
                headers.get(b"authorization", b""), self.expected.encode()):
            return await self._answer(send, 401, "missing or wrong basic auth",
                                      [(b"www-authenticate", b"Basic")])
        too_big = (413, f"the request body is over {self.max_body} bytes")
        length = headers.get(b"content-length", b"0")
        if not length.isdigit():
            return await self._answer(send, 400, "a bad Content-Length header")
        if int(length) > self.max_body:
            return await self._answer(send, *too_big)
        try:
            body = await read_capped_body(receive, self.max_body)
        except BodyTooLarge:
            return await self._answer(send, *too_big)
        if body is None:  # the client went away
            return
        return await self.app(scope, replaying(body, receive), send)


def create_app(settings: BackendSettings | None = None, auth: str | None = None,
               max_body: int = MAX_BODY):
    """The FastAPI app of the backend.

    Args:
        settings: strategy, learner, encoder... (default :class:`BackendSettings`).
        auth: ``"user:password"`` that every request must carry as HTTP basic auth, or None.
        max_body: the largest request body in bytes (413 above it).
    """
    from fastapi import Body, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    settings = settings or BackendSettings()
    settings.check()
    pools: dict[str, TaskPool] = {}
    pools_lock = threading.Lock()
    app = FastAPI(title="labelwise Label Studio ML backend")
    app.state.pools = pools
    expected = None if auth is None else "Basic " + base64.b64encode(auth.encode()).decode()
    app.add_middleware(Guard, expected_auth=expected, max_body=int(max_body))

    @app.exception_handler(LabelwiseError)
    async def _labelwise_error(request: Request, exc: LabelwiseError):
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError):
        return JSONResponse({"error": "the request body must be a JSON object"}, status_code=400)

    def pool_for(project, config_xml: str | None) -> TaskPool:
        """The project's pool; a config with other choices or another object starts anew."""
        key = project_key(project)
        with pools_lock:
            pool = pools.get(key)
            if config_xml:
                config = parse_label_config(config_xml)
                if pool is None or pool.config != config:
                    pool = pools[key] = TaskPool(config, settings)
            if pool is None:
                raise LabelwiseError(f"project {key} is unknown: connect the backend to it "
                                     "(POST /setup with its labeling config)")
            return pool

    # The routes are plain functions: FastAPI runs them in its thread pool. None waits for a
    # fit: rankings run in each pool's background thread (TaskPool.refresh_later).
    @app.get("/")
    @app.get("/health")
    def health():
        return {"status": "UP", "model_class": "labelwise", "strategy": settings.strategy,
                "learner": settings.learner}

    @app.post("/setup")
    def setup(data: dict = Body(...)):
        pool = pool_for(data.get("project"), config_text(data.get("schema"), "schema"))
        return {"model_version": pool.model_version}

    @app.post("/predict")
    def predict(data: dict = Body(...)):
        pool = pool_for(data.get("project"),
                        config_text(data.get("label_config"), "label_config"))
        results = pool.predict(task_list(data.get("tasks", []), "tasks"))
        out = {"results": results, "model_version": pool.model_version}
        refused = [r.pop("error") for r in results if "error" in r]
        if refused:  # the other tasks are answered; these are named, one line each
            out["refused"] = refused
        return out

    @app.post("/webhook", status_code=201)
    def webhook(data: dict = Body(...)):
        action, project = data.get("action"), data.get("project")
        if action not in (*ANNOTATION_ACTIONS, "ANNOTATIONS_DELETED", "START_TRAINING"):
            return {"action": action, "status": "ignored"}
        pool = pool_for(project, config_text(project.get("label_config"), "label_config")
                        if isinstance(project, dict) else None)
        refused = {}
        if action in ANNOTATION_ACTIONS:
            annotations, tasks = data.get("annotation"), data.get("task")
            if isinstance(annotations, dict):  # one annotation, or a list of them
                annotations, tasks = [annotations], [tasks]
            annotations = annotation_list(annotations, "annotation")
            refused = pool.add_tasks(task_list(tasks, "task"))
            for a in annotations:
                task = a.get("task")
                if task is None:
                    raise LabelwiseError(f"annotation {a['id']} names no task")
                pool.set_annotation(int_id(task["id"] if isinstance(task, dict) else task,
                                           "task"), a)
        elif action == "ANNOTATIONS_DELETED":
            annotations = annotation_list(data.get("annotations"), "annotations")
            pool.delete_annotations(a["id"] for a in annotations)
        pool.refresh_later()
        out = {"action": action, "model_version": pool.model_version}
        if refused:
            out["refused"] = list(refused.values())
        return out

    @app.post("/train", status_code=201)
    def train(data: dict = Body(...)):
        pool = pool_for(data.get("project"),
                        config_text(data.get("label_config"), "label_config"))
        tasks = task_list(data.get("annotations", []), "annotations")
        refused = pool.add_tasks(tasks)
        for t in tasks:
            if int(t["id"]) not in refused:
                pool.set_task_annotations(t["id"], t.get("annotations") or [])
        pool.refresh_later()
        out = {"model_version": pool.model_version}
        if refused:
            out["refused"] = list(refused.values())
        return out

    return app


def serve(settings: BackendSettings, host: str = "127.0.0.1", port: int = 9090,
          auth: str | None = None, echo=print) -> None:
    """Run the backend until Ctrl-C, printing what to set in Label Studio."""
    import uvicorn

    if not is_loopback(host) and not auth:
        raise LabelwiseError(f"{host} is not a loopback address: give --auth USER:PASSWORD "
                             "(Label Studio's basic auth for the model connection)")
    if auth is not None and ":" not in auth:
        raise LabelwiseError("--auth must be USER:PASSWORD")
    app = create_app(settings, auth=auth)
    shown = f"[{host}]" if ":" in host else host
    echo(f"labelwise: Label Studio ML backend ({settings.strategy}, {settings.learner}) at "
         f"http://{shown}:{port}")
    echo("connect it under the project's Settings -> Model; a backend on this machine needs "
         "Label Studio started with LABEL_STUDIO_ML_BLOCK_LOCAL_IP=false and, for its webhook, "
         "LABEL_STUDIO_SSRF_PROTECTION_ENABLED=false")
    uvicorn.run(app, host=host, port=port, log_level="warning")
