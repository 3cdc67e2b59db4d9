"""The labeling app: a project on disk (SQLite + cached embeddings), a local web page, a worker.

``init_project`` creates a project folder from images or texts; ``Project`` is every operation on
it as a library call (next item, label, skip, undo, prepare the next batch, export, status);
``labelwise.app.server.create_app`` wraps a project in a FastAPI app and
``labelwise.app.server.serve`` runs it on uvicorn. FastAPI and uvicorn are imported only by the
server module (``pip install "labelwise[app]"``).
"""

from __future__ import annotations

from labelwise.app.create import create_project, init_project
from labelwise.app.project import Project
from labelwise.app.transfer import EXPORT_FORMATS

__all__ = ["EXPORT_FORMATS", "Project", "create_project", "init_project"]
