"""The web UI over runs the embedded engine really executes: a pipeline submitted with the
real kfp SDK runs while the browser watches its graph change without a reload, then the
task's log and its Markdown artifact are read through the engine's routes."""

# No "from __future__ import annotations": kfp reads the component annotations at runtime.

import re
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl import Markdown, Output
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningServer
from tests.e2e.support import unique

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(engine_server: RunningServer) -> RunningServer:
    """This module's runs execute: its server runs the engine."""
    return engine_server


@dsl.component
def announce(words: str, report: Output[Markdown]) -> str:
    print(f"hello from the engine: {words}")
    with open(report.path, "w") as f:
        f.write("# Engine report\n\nIt *ran*.\n")
    return words.upper()


@dsl.component
def hold(gate: str, seconds: float) -> str:
    import os
    import time

    deadline = time.time() + seconds
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.1)
    return "released"


@dsl.pipeline(name="ui-engine")
def ui_engine(gate: str, words: str = "from the ui test") -> str:
    said = announce(words=words).set_caching_options(False)
    held = hold(gate=gate, seconds=60.0).after(said).set_caching_options(False)
    return held.output


def node(page: Page, step: str):
    return page.locator(f".node[data-key='{step}']")


def test_a_real_run_updates_live_and_shows_its_log_and_artifact(
    page: Page, kfp_client, server: RunningServer, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    run = kfp_client.create_run_from_pipeline_func(
        ui_engine, arguments={"gate": str(gate)}, run_name=unique("ui engine")
    )
    page.goto(f"{server.url}/runs/{run.run_id}")
    page.evaluate("window.notReloaded = true")

    # The held step is running (the Python environment may be built first).
    expect(node(page, "hold")).to_have_attribute("data-state", "RUNNING", timeout=120_000)
    expect(node(page, "announce")).to_have_attribute("data-state", "SUCCEEDED")
    gate.write_text("go")
    expect(node(page, "hold")).to_have_attribute("data-state", "SUCCEEDED", timeout=30_000)
    expect(page.locator("#run-state")).to_have_text(re.compile("succeeded"), timeout=30_000)
    assert page.evaluate("window.notReloaded") is True

    node(page, "announce").click()
    panel = page.locator("#panel")
    expect(panel.locator("pre.log")).to_contain_text("hello from the engine: from the ui test")
    report = panel.locator(".artifact").filter(has_text="system.Markdown")
    expect(report.get_by_role("heading", name="Engine report")).to_be_visible()
