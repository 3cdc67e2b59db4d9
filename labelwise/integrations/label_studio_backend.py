"""A Label Studio ML backend whose predictions rank the tasks in labelwise's pick order.

``labelwise label-studio-backend --strategy margin --learner logreg`` serves Label Studio's ML
backend protocol (connect it under a project's Settings -> Model). Routes (JSON; errors are
``{"error": "<one line>"}`` with status 400):

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
takes their annotations as their labels, and answers from one engine round on every label known
(retrained only when something changed): the predicted class as the result, and a score in
[0, 1] whose ascending order is labelwise's pick order (see that module). The webhook Label Studio
creates with the backend reports annotations created, updated (ANNOTATION_CREATED/UPDATED,
ANNOTATIONS_CREATED) and deleted (ANNOTATIONS_DELETED) as they happen; the backend answers at once
and retrains in the background, and ``model_version`` changes with every change of the labels or
the pool, so Label Studio asks for predictions again ("Retrieve Predictions"). START_TRAINING
and ``/train`` retrain on what they carry. State lives in memory: after a restart the next
"Retrieve Predictions" on every task (they carry their annotations) restores it. Encoding many
new texts or images can outlast Label Studio's wait for ``/predict`` (``ML_TIMEOUT_PREDICT``,
100 s): the backend finishes anyway, and the next retrieval finds them encoded.

Access: on a loopback address there is no authentication; any other address needs
``auth="user:password"``, checked as HTTP basic auth on every route (Label Studio's "Basic
Authentication" of a model connection; its webhook then needs the same ``Authorization`` header).
"""

# no "from __future__ import annotations": FastAPI reads the routes' annotations at runtime,
# and BackgroundTasks is imported inside create_app.
import base64
import hmac
import threading

from labelwise.integrations.label_studio import parse_label_config
from labelwise.integrations.label_studio_pool import BackendSettings, TaskPool
from labelwise.validation import LabelwiseError

ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")


def project_key(project) -> str:
    """The Label Studio project id in any of its forms: ``"3.1712345678"`` (``/setup``,
    ``/predict``), ``{"id": 3, ...}`` (webhooks) or ``3``."""
    if isinstance(project, dict):
        project = project.get("id")
    if project is None or str(project).strip() == "":
        raise LabelwiseError("the request names no project")
    return str(project).split(".")[0]


def create_app(settings: BackendSettings | None = None, auth: str | None = None):
    """The FastAPI app of the backend.

    Args:
        settings: strategy, learner, encoder... (default :class:`BackendSettings`).
        auth: ``"user:password"`` that every request must carry as HTTP basic auth, or None.
    """
    from fastapi import BackgroundTasks, Body, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    settings = settings or BackendSettings()
    settings.check()
    pools: dict[str, TaskPool] = {}
    pools_lock = threading.Lock()
    app = FastAPI(title="labelwise Label Studio ML backend")
    app.state.pools = pools
    expected = None if auth is None else "Basic " + base64.b64encode(auth.encode()).decode()

    @app.middleware("http")
    async def _basic_auth(request: Request, call_next):
        if expected is not None and not hmac.compare_digest(
                request.headers.get("authorization", "").encode(), expected.encode()):
            return JSONResponse({"error": "missing or wrong basic auth"}, status_code=401,
                                headers={"WWW-Authenticate": "Basic"})
        return await call_next(request)

    @app.exception_handler(LabelwiseError)
    async def _labelwise_error(request: Request, exc: LabelwiseError):
        return JSONResponse({"error": str(exc)}, status_code=400)

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

    def task_list(value, name: str) -> list[dict]:
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise LabelwiseError(f"{name!r} must be a list of tasks")
        return value

    # The routes are plain functions: FastAPI runs them in its thread pool, so one waiting for a
    # pool's lock (held while the pool retrains) never blocks the event loop.
    @app.get("/")
    @app.get("/health")
    def health():
        return {"status": "UP", "model_class": "labelwise", "strategy": settings.strategy,
                "learner": settings.learner}

    @app.post("/setup")
    def setup(data: dict = Body(...)):
        return {"model_version": pool_for(data.get("project"), data.get("schema")).model_version}

    @app.post("/predict")
    def predict(data: dict = Body(...)):
        pool = pool_for(data.get("project"), data.get("label_config"))
        results = pool.predict(task_list(data.get("tasks", []), "tasks"))
        return {"results": results, "model_version": pool.model_version}

    @app.post("/webhook", status_code=201)
    def webhook(background: BackgroundTasks, data: dict = Body(...)):
        action, project = data.get("action"), data.get("project")
        if action not in (*ANNOTATION_ACTIONS, "ANNOTATIONS_DELETED", "START_TRAINING"):
            return {"action": action, "status": "ignored"}
        pool = pool_for(project, project.get("label_config") if isinstance(project, dict)
                        else None)
        if action in ANNOTATION_ACTIONS:
            annotations, tasks = data.get("annotation"), data.get("task")
            if isinstance(annotations, dict):  # one annotation, or a list of them
                annotations, tasks = [annotations], [tasks]
            pool.add_tasks(task_list(tasks, "task"))
            for a in task_list(annotations, "annotation"):
                task = a.get("task")
                pool.set_annotation(task["id"] if isinstance(task, dict) else task, a)
        elif action == "ANNOTATIONS_DELETED":
            pool.delete_annotations(a["id"] for a in task_list(data.get("annotations", []),
                                                               "annotations"))
        background.add_task(pool.refresh)
        return {"action": action, "model_version": pool.model_version}

    @app.post("/train", status_code=201)
    def train(background: BackgroundTasks, data: dict = Body(...)):
        pool = pool_for(data.get("project"), data.get("label_config"))
        tasks = task_list(data.get("annotations", []), "annotations")
        pool.add_tasks(tasks)
        for t in tasks:
            pool.set_task_annotations(t["id"], t.get("annotations") or [])
        background.add_task(pool.refresh)
        return {"model_version": pool.model_version}

    return app


def serve(settings: BackendSettings, host: str = "127.0.0.1", port: int = 9090,
          auth: str | None = None, echo=print) -> None:
    """Run the backend until Ctrl-C, printing what to set in Label Studio."""
    import uvicorn

    from labelwise.app.server import is_loopback

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
