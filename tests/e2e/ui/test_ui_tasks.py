"""The run page with task data, before the embedded engine exists: an in-process server
over a real SQLite database, whose tasks arrive through the real status path
(``RunService.report_status``, what every backend calls), browsed in Chromium.

Covers the graph's task states (a ParallelFor's iterations collapsed with counts), the
live update without a reload, and the task panel (inputs, outputs, attempts, metrics,
confusion matrix, ROC curve). Logs and artifact content come from engine routes that do
not exist yet: the panel must say so instead of failing.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from playwright.sync_api import Page, expect

import migrations
from api_server import build_app, build_database, build_services
from api_server.backends import RunStatusEvent, TaskStatusEvent
from api_server.rest.dependencies import Services
from api_server.services import PipelineSource, RunInput
from domain.settings import Settings
from tests.e2e.conftest import free_port
from tests.e2e.support import corpus

pytestmark = pytest.mark.e2e


@dataclass
class InProcessServer:
    url: str
    services: Services
    # Where tests put artifact and log files the real read routes then serve.
    files: Path


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data_dir = tmp_path_factory.mktemp("ui-tasks")
    settings = Settings(data_dir=data_dir, access_log=False)
    migrations.upgrade(settings.effective_database_url)
    services = build_services(settings, build_database(settings))
    app = build_app(settings, services)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):  # up to 20 s for uvicorn to bind
        if server.started:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the in-process server did not start")
    try:
        files = settings.artifact_dir / "files"  # the read route serves only these
        files.mkdir(parents=True)
        yield InProcessServer(f"http://127.0.0.1:{port}", services, files)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def loops_spec() -> dict[str, Any]:
    return yaml.safe_load(Path(corpus("loops")).read_text().split("\n---\n")[0])


def task(
    t0: datetime, name: str, state: str, minute: int, parent: str | None = None, **extra: Any
) -> TaskStatusEvent:
    return TaskStatusEvent(
        task_id=f"{name}-{uuid.uuid4().hex[:6]}",
        state=state,
        update_time=t0 + timedelta(minutes=minute),
        display_name=name,
        parent_task_id=parent,
        start_time=t0 + timedelta(minutes=minute),
        **extra,
    )


CLASSIFICATION = {
    "confusionMatrix": {
        "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
        "rows": [{"row": [5, 1]}, {"row": [2, 7]}],
    },
    "confidenceMetrics": [
        {"confidenceThreshold": 0.9, "falsePositiveRate": 0.0, "recall": 0.4},
        {"confidenceThreshold": 0.5, "falsePositiveRate": 0.2, "recall": 0.8},
        {"confidenceThreshold": 0.1, "falsePositiveRate": 1.0, "recall": 1.0},
    ],
}


def start_loop_run(services: Services, name: str) -> tuple[str, datetime, dict[str, str]]:
    """A RUNNING run of the loops pipeline: list-names done, for-loop-2 on its way through
    three iterations (one succeeded, one running, one pending)."""
    run = services.runs.create(
        RunInput(display_name=name, source=PipelineSource(pipeline_spec=loops_spec()))
    )
    # Events older than the run's last transition are ignored: these start after it.
    t0 = run.created_at + timedelta(seconds=1)
    root = task(t0, "loops", "RUNNING", 0)
    names = task(
        t0,
        "list-names",
        "SUCCEEDED",
        1,
        root.task_id,
        end_time=t0 + timedelta(minutes=2),
        inputs={"parameters": {"count": 2}},
        outputs={
            "parameters": {"Output": ["a", "b"]},
            "artifacts": {
                "scores": [
                    {
                        "name": "scores",
                        "uri": "/data/root/scores",
                        "type": {"schemaTitle": "system.Metrics"},
                        "metadata": {"accuracy": 0.91, "loss": 0.2},
                    }
                ],
                "quality": [
                    {
                        "name": "quality",
                        "uri": "/data/root/quality",
                        "type": {"schemaTitle": "system.ClassificationMetrics"},
                        "metadata": CLASSIFICATION,
                    }
                ],
            },
        },
    )
    loop = task(t0, "for-loop-2", "RUNNING", 2, root.task_id)
    iterations = [
        task(t0, f"for-loop-2-iteration-{i}", "RUNNING", 2, loop.task_id) for i in range(3)
    ]
    squares = [
        task(t0, "square", state, 3, iterations[i].task_id)
        for i, state in enumerate(("SUCCEEDED", "RUNNING", "PENDING"))
    ]
    services.runs.report_status(
        RunStatusEvent(
            run_id=run.run_id,
            generation=0,
            update_time=t0,
            state="RUNNING",
            tasks=[root, names, loop, *iterations, *squares],
        )
    )
    return (
        run.run_id,
        t0,
        {
            "root": root.task_id,
            "square-1": squares[1].task_id,
            "square-2": squares[2].task_id,
            "loop": loop.task_id,
        },
    )


def node(page: Page, dag: str, step: str):
    """A step's node by its key (sub-DAG graphs are hidden until opened)."""
    return page.locator(f".node[data-key='{dag + '/' if dag else ''}{step}']")


def test_task_states_and_collapsed_iterations(page: Page, app_server: InProcessServer) -> None:
    run_id, _, _ = start_loop_run(app_server.services, "loop states")
    page.goto(f"{app_server.url}/runs/{run_id}")
    expect(page.locator("#run-state")).to_have_text(re.compile("running"))
    expect(node(page, "", "list-names")).to_have_attribute("aria-label", "list-names: succeeded")
    expect(node(page, "", "for-loop-2")).to_have_attribute(
        "aria-label", "for-loop-2: 3 iterations; running"
    )
    expect(node(page, "", "total")).to_have_attribute("aria-label", "total: pending")
    node(page, "", "for-loop-2").click()
    page.get_by_role("button", name="Open loop graph").click()
    expect(node(page, "for-loop-2", "square")).to_have_attribute(
        "aria-label", "square: 3 tasks: 1 pending, 1 running, 1 succeeded"
    )
    node(page, "for-loop-2", "square").click()
    panel = page.locator("#panel")
    expect(panel.locator("article.task")).to_have_count(3)


def test_graph_follows_the_run_without_a_reload(page: Page, app_server: InProcessServer) -> None:
    services = app_server.services
    run_id, t0, ids = start_loop_run(services, "live run")
    page.goto(f"{app_server.url}/runs/{run_id}")
    page.evaluate("window.notReloaded = true")
    square = node(page, "for-loop-2", "square")
    expect(square).to_have_attribute("aria-label", re.compile("1 running"))

    later = t0 + timedelta(minutes=10)
    services.runs.report_status(
        RunStatusEvent(
            run_id=run_id,
            generation=0,
            update_time=later,
            tasks=[
                TaskStatusEvent(task_id=ids["square-1"], state="SUCCEEDED", update_time=later),
                TaskStatusEvent(task_id=ids["square-2"], state="FAILED", update_time=later),
            ],
        )
    )
    expect(square).to_have_attribute(
        "aria-label", "square: 3 tasks: 1 failed, 2 succeeded", timeout=8000
    )
    expect(square).to_have_attribute("data-state", "FAILED")
    services.runs.report_status(
        RunStatusEvent(run_id=run_id, generation=0, update_time=later, state="FAILED")
    )
    expect(page.locator("#run-state")).to_have_text(re.compile("failed"), timeout=8000)
    expect(page.get_by_role("status")).to_have_text("The run is failed.")
    expect(page.get_by_role("button", name="Terminate")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True


def test_task_panel_shows_inputs_outputs_metrics_and_log_state(
    page: Page, app_server: InProcessServer
) -> None:
    run_id, _, _ = start_loop_run(app_server.services, "panel run")
    page.goto(f"{app_server.url}/runs/{run_id}")
    node(page, "", "list-names").click()
    panel = page.locator("#panel")
    expect(panel.get_by_role("heading", level=3)).to_contain_text("list-names")
    expect(panel).to_contain_text("Duration")
    expect(panel.locator("dd").filter(has_text=re.compile("^1m$"))).to_have_count(1)
    panel.get_by_text("Inputs").click()
    expect(panel.get_by_role("row", name=re.compile("^count"))).to_contain_text("2")
    expect(panel.get_by_role("row", name=re.compile("^Output"))).to_contain_text('["a", "b"]')
    metrics = panel.locator(".artifact").filter(has_text="system.Metrics")
    expect(metrics.get_by_role("row", name=re.compile("^accuracy"))).to_contain_text("0.91")
    matrix = panel.get_by_role("table").filter(has_text="Confusion matrix")
    expect(matrix.get_by_role("row", name=re.compile("^dog"))).to_contain_text("2")
    expect(matrix.get_by_role("row", name=re.compile("^dog"))).to_contain_text("7")
    expect(panel.get_by_role("img", name="ROC curve, 3 points")).to_be_visible()
    expect(panel.get_by_text("Attempts (1)")).to_be_visible()
    # No engine serves logs yet: the panel says so rather than failing.
    expect(panel.locator("pre.log")).to_have_text("No log yet.")
    expect(metrics.get_by_role("link", name="Download scores")).to_have_attribute(
        "href", re.compile(r"/artifacts/scores:read$")
    )


def test_compare_shows_metrics_of_tasks(page: Page, app_server: InProcessServer) -> None:
    first, _, _ = start_loop_run(app_server.services, "metrics a")
    second = app_server.services.runs.create(
        RunInput(display_name="metrics b", source=PipelineSource(pipeline_spec=loops_spec()))
    ).run_id
    page.goto(f"{app_server.url}/compare?run_id={first}&run_id={second}")
    row = page.get_by_role("row", name=re.compile(r"^list-names\.scores\.accuracy"))
    expect(row).to_contain_text("differs")
    expect(row.get_by_role("cell")).to_have_text(["0.91", "\u2014"])


def test_markdown_is_rendered_with_raw_html_escaped(app_server: InProcessServer) -> None:
    text = "# Report\n\n*ok* <script>alert(1)</script> [x](javascript:alert(1))\n"
    response = httpx.post(f"{app_server.url}/render/markdown", content=text.encode())
    assert response.status_code == 200
    html = response.text
    assert "<h1>Report</h1>" in html and "<em>ok</em>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html


PAGE_HTML = """<!doctype html><html><body><p id="out">waiting</p><script>
let result;
try { result = 'leaked ' + parent.document.title; } catch (e) { result = 'blocked'; }
try { localStorage.setItem('x', '1'); result += ' storage-open'; }
catch (e) { result += ' storage-blocked'; }
document.getElementById('out').textContent = result;
</script></body></html>"""


def test_previews_and_log_through_the_read_routes(page: Page, app_server: InProcessServer) -> None:
    services = app_server.services
    run = services.runs.create(
        RunInput(display_name="previews", source=PipelineSource(pipeline_spec=loops_spec()))
    )
    t0 = run.created_at + timedelta(seconds=1)

    markdown = b"# Weekly report\n\nAll *good*. <script>alert(1)</script>\n"
    contents = {
        "report": markdown,
        "page": PAGE_HTML.encode(),
        "table": b"name,score\na,1\nb,2\n",
    }
    folder = app_server.files / run.run_id
    folder.mkdir()
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    log = folder / "task.log"
    log.write_text("step 1\n<b>not bold</b>\n")

    def artifact(name: str, schema: str) -> dict[str, Any]:
        return {"name": name, "uri": str(folder / name), "type": {"schemaTitle": schema}}

    total = task(
        t0,
        "total",
        "RUNNING",
        0,
        executor_detail={"log": str(log)},
        outputs={
            "artifacts": {
                "report": [artifact("report", "system.Markdown")],
                "page": [artifact("page", "system.HTML")],
                "table": [artifact("table", "system.Dataset")],
            }
        },
    )
    services.runs.report_status(RunStatusEvent(run.run_id, 0, t0, state="RUNNING", tasks=[total]))

    page.goto(f"{app_server.url}/runs/{run.run_id}")
    page.evaluate("localStorage.setItem('app-secret', 'mine')")
    node(page, "", "total").click()
    panel = page.locator("#panel")

    expect(panel.locator("pre.log")).to_have_text("step 1\n<b>not bold</b>\n")
    report = panel.locator(".artifact").filter(has_text="system.Markdown")
    expect(report.get_by_role("heading", name="Weekly report")).to_be_visible()
    expect(report.locator(".markdown")).to_contain_text("<script>alert(1)</script>")
    assert report.locator(".markdown script").count() == 0
    expect(report.locator(".artifact-size")).to_have_text(f"{len(markdown)} bytes")

    frame = panel.locator("iframe.html-artifact")
    expect(frame).to_have_attribute("sandbox", "allow-scripts")
    # The artifact's script ran, and could reach neither this page nor its storage.
    expect(page.frame_locator("iframe.html-artifact").locator("#out")).to_have_text(
        "blocked storage-blocked"
    )

    table = panel.locator(".artifact").filter(has_text="system.Dataset").locator("table")
    expect(table.get_by_role("row")).to_have_text(["namescore", "a1", "b2"])
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_big_loops_panel_shows_its_tasks_a_page_at_a_time(
    page: Page, app_server: InProcessServer
) -> None:
    """A step with 45 iterations: the panel shows 20 tasks at a time with a pager, and the
    page fetches the logs of the shown tasks only."""
    services = app_server.services
    run = services.runs.create(
        RunInput(display_name="big loop", source=PipelineSource(pipeline_spec=loops_spec()))
    )
    t0 = run.created_at + timedelta(seconds=1)
    root = task(t0, "loops", "RUNNING", 0)
    loop = task(t0, "for-loop-2", "RUNNING", 1, root.task_id)
    iterations = [
        task(t0 + timedelta(seconds=i), f"for-loop-2-iteration-{i}", "RUNNING", 1, loop.task_id)
        for i in range(45)
    ]
    failing = {7, 30, 44}  # three failures among 45: the filter finds them on one page
    squares = [
        task(
            t0 + timedelta(seconds=i),
            "square",
            "FAILED" if i in failing else "SUCCEEDED",
            2,
            iterations[i].task_id,
        )
        for i in range(45)
    ]
    services.runs.report_status(
        RunStatusEvent(
            run.run_id, 0, t0, state="RUNNING", tasks=[root, loop, *iterations, *squares]
        )
    )
    logs: list[str] = []
    page.on("request", lambda request: logs.append(request.url) if "/log" in request.url else None)
    page.goto(f"{app_server.url}/runs/{run.run_id}")
    node(page, "", "for-loop-2").click()
    page.get_by_role("button", name="Open loop graph").click()
    node(page, "for-loop-2", "square").click()

    panel = page.locator("#panel")
    pager = panel.get_by_role("navigation", name="Tasks of this step")
    expect(pager).to_contain_text("Tasks 1\u201320 of 45")
    expect(panel.locator("article.task")).to_have_count(20)
    expect(panel.locator("article.task h4").first).to_contain_text("square #1")
    expect(pager.get_by_role("button", name="Previous tasks")).to_be_disabled()
    expect(panel.locator("pre.log").first).not_to_have_text("Loading the log…")
    square_ids = {t.task_id for t in squares}
    fetched = {url.rsplit("/", 2)[-2] for url in logs} & square_ids
    assert fetched == {t.task_id for t in squares[:20]}
    first_page = panel.locator("article.task").first.get_attribute("data-task-id")
    assert first_page == squares[0].task_id  # in the order they were created

    pager.get_by_role("button", name="Next tasks").click()
    expect(pager).to_contain_text("Tasks 21\u201340 of 45")
    expect(panel.locator("article.task h4").first).to_contain_text("square #21")
    pager.get_by_role("button", name="Next tasks").click()
    expect(pager).to_contain_text("Tasks 41\u201345 of 45")
    expect(panel.locator("article.task")).to_have_count(5)
    expect(pager.get_by_role("button", name="Next tasks")).to_be_disabled()
    expect(panel.locator("article.task").last).to_have_attribute(
        "data-task-id", squares[44].task_id
    )

    filters = panel.get_by_role("group", name="Show the tasks")
    filters.get_by_role("button", name="failed (3)").click()
    expect(filters.get_by_role("button", name="failed (3)")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(panel.locator("article.task")).to_have_count(3)
    expect(pager).to_be_hidden()  # one page of them
    shown = panel.locator("article.task").evaluate_all("els => els.map(e => e.dataset.taskId)")
    assert shown == [squares[i].task_id for i in sorted(failing)]
    expect(panel.locator("article.task h4").first).to_contain_text("square #8")  # its place
    filters.get_by_role("button", name="All (45)").click()
    expect(pager).to_contain_text("Tasks 1\u201320 of 45")
