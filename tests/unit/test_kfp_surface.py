"""Every operation the kfp SDK's generated client can call is served (except the ones
KFP's own HTTP server does not answer and the ReportService, which arrives with the
persistence agent)."""

from __future__ import annotations

import inspect
import re

import kfp_server_api.api as generated

from api_server import build_app, build_database, build_services
from domain.settings import Settings

NOT_SERVED = {
    ("GET", "/apis/v2beta1/auth"),
    ("GET", "/apis/v2beta1/filters"),
    ("POST", "/apis/v2beta1/visualizations/{namespace}"),
    ("POST", "/apis/v2beta1/scheduledworkflows"),
    ("POST", "/apis/v2beta1/workflows"),
}
_CALL = re.compile(r"call_api\(\s*'([^']+)',\s*'([A-Z]+)'")


def _generated_operations() -> set[tuple[str, str]]:
    found = set()
    for _, cls in inspect.getmembers(generated, inspect.isclass):
        for path, method in _CALL.findall(inspect.getsource(cls)):
            # The generated client names nested path fields with dots.
            path = re.sub(r"\{[a-z_]+\.([a-z_]+)\}", r"{\1}", path)
            found.add((method, path))
    return found


def _served_operations() -> set[tuple[str, str]]:
    settings = Settings(database_url="sqlite://")
    app = build_app(settings, build_services(settings, build_database(settings)))
    return {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }


def test_every_sdk_operation_is_served() -> None:
    expected = _generated_operations() - NOT_SERVED
    assert len(expected) == 35
    missing = expected - _served_operations()
    assert not missing, f"operations the kfp SDK can call but Headrace does not serve: {missing}"
