"""The v2beta1 API server: REST (and later gRPC) over one service layer and SQL storage.

Public interface for the composition root: ``build_database``, ``build_services``,
``build_app``; the run-backend interface lives in ``api_server.backends``.
"""

from .app import build_app, build_database, build_services

__all__ = ["build_app", "build_database", "build_services"]
