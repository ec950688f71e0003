"""The web UI: server-rendered pages over the service layer, served by the API's process.

A front end beside ``api_server.rest``: it calls the services directly (never the REST
routes) and its buttons call the REST API from the browser. Pages are Jinja2 templates
with autoescaping; a little plain JavaScript (``static/``) localises timestamps, calls the
API for actions and polls a run's state while it is active. Everything is served from this
package: no CDN, no build step.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from . import pages
from .templating import STATIC, Pages


def install_ui(app: FastAPI) -> None:
    """Serve the UI at ``/`` and its assets at ``/static`` on ``app``; call after the API
    routers are included, so that the UI's catch-all not-found page comes last."""
    app.state.ui_pages = Pages()
    app.mount("/static", StaticFiles(directory=STATIC), name="ui_static")
    for router in pages.routers():
        app.include_router(router)


__all__ = ["install_ui"]
