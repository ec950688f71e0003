"""Serve ``/pipeline/apis/v2beta1/...`` as ``/apis/v2beta1/...``.

A path rewrite in front of the router instead of a second copy of every route: FastAPI
matches routes one by one, so a duplicated table doubles the cost of a miss.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class PrefixAlias:
    def __init__(self, app: ASGIApp, alias: str, target: str) -> None:
        self.app = app
        self.prefix = alias + target
        self.cut = len(alias)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            scope = dict(scope)
            scope["path"] = scope["path"][self.cut :]
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw[self.cut :]
        await self.app(scope, receive, send)
