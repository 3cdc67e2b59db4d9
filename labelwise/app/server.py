"""The labeling server: a FastAPI app over a :class:`~labelwise.app.project.Project`, on uvicorn.

Routes (JSON unless said otherwise; errors are ``{"error": "<one line>"}`` with a 4xx status, or
507 when the disk is full: nothing was saved):

| route | what |
|---|---|
| ``GET /`` | the page (``static/index.html``, ``app.js``, ``style.css``; no build step) |
| ``GET /api/config`` | classes, modality, batch size, project name, the caller's account |
| ``GET /api/next?annotator=A`` | the item A should label now (assigned to A) with the model's |
| | suggestion and why it was picked (:mod:`labelwise.app.assist`), the state, progress |
| ``GET /api/items/{idx}/content`` | the image file, or ``{"text": ...}``; only registered items |
| ``POST /api/label`` | ``{"item": idx, "label": "cat", "annotator": "A"}``; answered after commit |
| ``POST /api/skip`` | ``{"item": idx, "annotator": "A"}`` |
| ``POST /api/undo`` | ``{"annotator": "A"}``: withdraws A's last label; the item comes back next |
| ``POST /api/heartbeat`` | ``{"annotator": "A"}``: renews A's leases (the page, every 15 s) |
| ``GET /api/progress`` | counts, batch position, accuracy per round, worker state, and |
| | ``model``: which model ranked the items, which one trains, any problem |
| ``GET /api/labels`` | every label in force |

Access (the page ``/``, ``/static/*`` and ``/api/health`` carry no data and are always served):

- a project with annotator accounts (:mod:`labelwise.app.annotators`): every API request must
  carry a personal token (401 without or with an unknown one, 403 with the shared token), and a
  label, skip or undo is attributed to the token's annotator whatever name the body gives;
- otherwise, on a loopback address no token is needed (unless one is given); any other address
  gets a shared token (generated when not given) that every API request must carry.

A token travels as the header ``X-Labelwise-Token`` (or ``Authorization: Bearer``) or the query
parameter ``token``. Request bodies over ``max_body`` bytes get 413.
"""

import hmac
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs

from labelwise.app import annotators
from labelwise.app.db import is_corrupt
from labelwise.app.errors import DiskFull
from labelwise.app.project import Conflict, ItemNotFound, Project
from labelwise.io import is_disk_full
from labelwise.net import (
    BodyTooLarge,
    is_loopback,
    read_capped_body,
    replaying,
    send_json_error,
)
from labelwise.validation import LabelwiseError

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
DEFAULT_MAX_BODY = 64 * 1024
#: the scope key under which the guard leaves the annotator a personal token belongs to
ANNOTATOR_KEY = "labelwise.annotator"


def is_public(path: str) -> bool:
    """Whether ``path`` is served without a token: the page and its assets carry no data."""
    return path in ("/", "/api/health") or path.startswith("/static/")


def resolve_token(host: str, token: str | None) -> str | None:
    """The token the server will demand: the one given, a new random one for a non-loopback
    ``host``, or None (no token) on loopback."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(18)


class _Guard:
    """ASGI middleware: checks the token, names the annotator of a personal token and caps the
    request body, before any route runs."""

    def __init__(self, app, token: str | None, max_body: int, project: Project):
        self.app, self.token, self.max_body, self.project = app, token, max_body, project

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if not is_public(scope.get("path", "")):
            given = headers.get("x-labelwise-token", "")
            auth = headers.get("authorization", "")
            if not given and auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not given:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                given = (query.get("token") or [""])[0]
            shared = self.token is not None and hmac.compare_digest(given.encode(),
                                                                    self.token.encode())
            # read per request: an account added or removed while serving counts at once
            if self.project.annotators.has_accounts():
                name = self.project.annotators.for_token(given)
                if name is None and shared:
                    return await send_json_error(send, 403, "this project has annotator accounts: "
                                             "open your personal link (labelwise annotators)")
                if name is None:
                    return await send_json_error(send, 401, "missing or unknown personal token: "
                                             "open your link from `labelwise annotators add`")
                scope[ANNOTATOR_KEY] = name
            elif self.token is not None and not shared:
                return await send_json_error(send, 401, "missing or wrong access token")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await send_json_error(send, 413, f"request body over {self.max_body} bytes")
        if scope["method"] in ("POST", "PUT", "PATCH"):
            try:
                body = await read_capped_body(receive, self.max_body)
            except BodyTooLarge:
                return await send_json_error(send, 413, f"request body over {self.max_body} bytes")
            if body is None:  # the client went away
                return
            return await self.app(scope, replaying(body, receive), send)
        return await self.app(scope, receive, send)


def create_app(project: str | Path | Project, token: str | None = None,
               max_body: int = DEFAULT_MAX_BODY, start_worker: bool = True):
    """The FastAPI app for ``project``, with its background worker (started with the app).

    Args:
        project: a project folder or an open :class:`Project`.
        token: the access token every request must carry; None = no token (loopback only:
            :func:`serve` decides).
        max_body: the largest request body accepted, in bytes.
        start_worker: run the :class:`~labelwise.app.worker.BatchWorker` (tests may turn it off
            and call ``prepare_next_batch`` themselves).
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, StrictInt
    from starlette.exceptions import HTTPException

    from labelwise.app.assist import item_assist
    from labelwise.app.worker import BatchWorker

    proj = project if isinstance(project, Project) else Project(project)
    try:  # whoever held an item when the last server stopped gets it back first
        proj.renew_all_leases()
    except (sqlite3.Error, OSError):  # a full disk: serve anyway (labels answer 507)
        pass
    worker = BatchWorker(proj)

    @asynccontextmanager
    async def lifespan(app):
        if start_worker:
            worker.start()
        yield
        if start_worker:
            worker.stop()

    app = FastAPI(title="labelwise", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.project = proj
    app.state.worker = worker

    class _Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        annotator: str = "default"

    class LabelIn(_Body):
        item: StrictInt
        label: str

    class SkipIn(_Body):
        item: StrictInt

    def _error(status: int, message: str):
        return JSONResponse({"error": message}, status_code=status)

    def who(request: Request, claimed: str) -> str:
        """The annotator of the request's personal token, else the name the client gave."""
        return request.scope.get(ANNOTATOR_KEY) or claimed

    @app.exception_handler(LabelwiseError)
    async def _labelwise_error(request: Request, exc: LabelwiseError):
        status = 404 if isinstance(exc, ItemNotFound) else 409 if isinstance(exc, Conflict) \
            else 507 if isinstance(exc, DiskFull) else 400
        return _error(status, str(exc))

    async def _storage_error(request: Request, exc: Exception):
        # a full disk: nothing was committed, the page says so (507 Insufficient Storage)
        if is_disk_full(exc, where=proj.path):
            return _error(507, "the disk is full: nothing was saved; free some space on the "
                               "server, then try again")
        if is_corrupt(exc):
            return _error(503, f"the project database is damaged ({exc}): nothing was saved; "
                               "stop the server and run `labelwise status` for what to do")
        raise exc

    app.add_exception_handler(OSError, _storage_error)
    app.add_exception_handler(sqlite3.Error, _storage_error)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            if e.get("type") == "json_invalid" or tuple(e.get("loc", ())) == ("body",):
                return _error(400, "malformed JSON body: expected an object like "
                                   '{"item": 3, "label": "cat", "annotator": "me"}')
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
        return _error(400 if problems else 422, "bad request: " + "; ".join(problems))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC_FILES:  # a fixed list: nothing else is ever read from disk
            return _error(404, f"no static file {name!r}")
        return Response((STATIC_DIR / name).read_bytes(), media_type=STATIC_FILES[name])

    @app.get("/api/health")
    def health():
        return {"ok": True}

    @app.get("/api/config")
    def config(request: Request):
        s = proj.settings
        return {"classes": proj.classes, "modality": s["modality"],
                "batch_size": s["batch_size"], "strategy": s["strategy"],
                "learner": s["learner"], "project": proj.path.name,
                "labels_per_item": s["labels_per_item"],
                "account": request.scope.get(ANNOTATOR_KEY)}

    @app.get("/api/next")
    def next_item(request: Request, annotator: str = "default"):
        out = proj.next_item(who(request, annotator))
        worker.wake()  # handing out an item may have closed a batch: prepare the missing ones
        if out["item"] is not None:
            out["item"].update(item_assist(proj, out["item"]["idx"]))
        out["worker_error"] = worker.last_error
        out["worker_busy"] = worker.busy
        out["model"] = worker.model_state()
        return out

    @app.get("/api/items/{idx}/content")
    def content(idx: int):
        kind, value = proj.item_content(idx)
        if kind == "image":
            return FileResponse(value, headers={"Cache-Control": "private, max-age=3600"})
        return {"text": value}

    @app.post("/api/label")
    def label(body: LabelIn, request: Request):
        out = proj.label(body.item, body.label, who(request, body.annotator))
        worker.wake()
        return out

    @app.post("/api/skip")
    def skip(body: SkipIn, request: Request):
        out = proj.skip(body.item, who(request, body.annotator))
        worker.wake()
        return out

    @app.post("/api/undo")
    def undo(body: _Body, request: Request):
        return proj.undo(who(request, body.annotator))

    @app.post("/api/heartbeat")
    def heartbeat(body: _Body, request: Request):
        out = proj.heartbeat(who(request, body.annotator))
        worker.wake()  # a returning annotator may make the team need another batch
        return out

    @app.get("/api/progress")
    def progress(request: Request, annotator: str | None = None):
        out = proj.progress(request.scope.get(ANNOTATOR_KEY) or annotator)
        out["worker_busy"] = worker.busy
        out["worker_error"] = worker.last_error
        out["model"] = worker.model_state()
        return out

    @app.get("/api/labels")
    def labels():
        return proj.active_labels()

    @app.get("/api/queue")
    def queue():
        return proj.queue()

    return _Guard(app, token, max_body, proj)


def serve(project: str | Path, host: str = "127.0.0.1", port: int = 8000,
          token: str | None = None, max_body: int = DEFAULT_MAX_BODY, echo=print) -> None:
    """Run the labeling server until Ctrl-C, printing its address (with the token, if any)."""
    import uvicorn

    proj = Project(project)
    # a shared token even when accounts exist: removing the last account must not open the API
    token = resolve_token(host, token)
    app = create_app(proj, token=token, max_body=max_body)
    shown = f"[{host}]" if ":" in host else host
    accounts = annotators.list_annotators(proj)
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token and not accounts else "")
    echo(f"labelwise: labeling {proj.path} ({proj.n_items} items) at {url}")
    if accounts:
        echo(f"annotator accounts: {', '.join(a['name'] for a in accounts)}; each opens their "
             "personal link (from `labelwise annotators add`); no other access is accepted")
    elif token:
        echo(f"access token: {token} (every request must carry it)")
    echo("press Ctrl-C to stop; every acknowledged label is already saved")
    uvicorn.run(app, host=host, port=port, log_level="warning")
