"""The v2beta1 API server: REST (and later gRPC) over one service layer and SQL storage.

Public interface for the composition root: ``build_database``, ``build_services``,
``build_app`` and ``Services`` (what ``build_services`` returns); the run-backend
interface lives in ``api_server.backends``.
"""

from .app import build_app, build_database, build_services
from .rest.dependencies import Services

__all__ = ["Services", "build_app", "build_database", "build_services"]
