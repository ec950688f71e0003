"""Measure the web UI's figures against one ``headrace serve`` process (SQLite).

1. The runs list page of an experiment with 100,000 runs (``bench/seed.py``), newest first,
   20 a page: request latency over loopback of page 1 and of page 500 (reached by following
   the page's own "Next page" link 499 times), p50/p95. Loopback latency includes HTTP and
   is an upper bound of the server's time. Floor: p95 <= 50 ms.
2. The same two pages in headless Chromium: DOMContentLoaded from the navigation's start
   (Navigation Timing). Floor: <= 500 ms.
3. The run page of a run with a 1,000-iteration ParallelFor (2,002 tasks reported through
   ``RunService.report_status`` before the server starts): time until the graph is
   visible, and every request the page makes in its first 3 seconds. Floors: <= 1 s,
   a handful of requests (no request per task).

It measures and prints; it never asserts.

    .venv/bin/python bench/bench_ui.py --runs 100000
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import yaml

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO))

from bench_api import loadavg, log, start_server, summarize_ms  # noqa: E402

from tests.e2e.ui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

LIST_P95_MS = 50.0
DOM_READY_MS = 500.0
GRAPH_VISIBLE_MS = 1000.0
ITERATIONS = 1000
_NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


def seed_parallel_for_run(database_url: str, data_dir: Path) -> str:
    """A RUNNING run of the loops pipeline whose first loop has ITERATIONS iterations."""
    from api_server import build_database, build_services
    from api_server.backends import RunStatusEvent, TaskStatusEvent
    from api_server.services import PipelineSource, RunInput
    from domain.settings import Settings

    settings = Settings(database_url=database_url, data_dir=data_dir)
    services = build_services(settings, build_database(settings))
    spec_path = REPO / "tests" / "pipelines" / "compiled" / "loops.yaml"
    spec = next(yaml.safe_load_all(spec_path.read_text()))
    run = services.runs.create(
        RunInput(display_name="parallel-for-1000", source=PipelineSource(pipeline_spec=spec))
    )
    t0 = run.created_at + timedelta(seconds=1)

    def event(name: str, state: str, parent: str | None) -> TaskStatusEvent:
        return TaskStatusEvent(
            task_id=str(uuid.uuid4()),
            state=state,
            update_time=t0,
            display_name=name,
            parent_task_id=parent,
            start_time=t0,
        )

    root = event("loops-pipeline", "RUNNING", None)
    loop = event("for-loop-2", "RUNNING", root.task_id)
    tasks = [root, loop]
    for index in range(ITERATIONS):
        wrapper = event(f"for-loop-2-iteration-{index}", "RUNNING", loop.task_id)
        state = ("SUCCEEDED", "RUNNING", "PENDING", "FAILED")[index % 4]
        tasks += [wrapper, event("square", state, wrapper.task_id)]
    services.runs.report_status(RunStatusEvent(run.run_id, 0, t0, state="RUNNING", tasks=tasks))
    services.db.dispose()
    return run.run_id


def list_pages(
    base_url: str, experiment_id: str, target_page: int, repetitions: int
) -> dict[str, Any]:
    """Loopback latency of the runs page 1 and page ``target_page``."""
    first_path = f"/runs?experiment_id={experiment_id}"
    result: dict[str, Any] = {"first_path": first_path}
    with httpx.Client(base_url=base_url, timeout=60) as client:

        def get(path: str) -> tuple[str, float]:
            started = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            return response.text, elapsed

        body, _ = get(first_path)
        path = first_path
        for _ in range(target_page - 1):
            match = _NEXT.search(body)
            if match is None:
                result["error"] = "ran out of pages"
                return result
            path = unescape(match.group(1))
            body, _ = get(path)
        rows = body.count('name="run_id"')
        result["target_path"] = path
        result["target_rows"] = rows
        for _ in range(10):
            get(first_path)
            get(path)
        first: list[float] = []
        target: list[float] = []
        for _ in range(repetitions):
            first.append(get(first_path)[1])
            target.append(get(path)[1])
    result["page_1"] = summarize_ms(first)
    result[f"page_{target_page}"] = summarize_ms(target)
    return result


def browser_figures(
    base_url: str, paths: dict[str, str], run_path: str, loads: int
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for label, path in paths.items():
            samples = []
            for index in range(loads + 3):
                page.goto(base_url + path, wait_until="domcontentloaded")
                value = page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return n.domContentLoadedEventEnd - n.startTime; }"
                )
                if index >= 3:  # the first loads warm the browser's cache of the assets
                    samples.append(value / 1000)
            result[f"dom_content_loaded_{label}"] = summarize_ms(samples)

        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url.replace(base_url, "")))
        visible: list[float] = []
        for index in range(loads + 3):
            requests.clear()
            page.goto(base_url + run_path, wait_until="commit")
            page.wait_for_selector("svg.dag .node", state="visible")
            value = page.evaluate(
                "() => performance.now() - performance.getEntriesByType('navigation')[0].startTime"
            )
            if index >= 3:
                visible.append(value / 1000)
        page.wait_for_timeout(3000)
        result["run_page_graph_visible"] = summarize_ms(visible)
        result["run_page_requests_first_3s"] = list(requests)
        result["run_page_nodes"] = page.locator("svg.dag .node").count()
        browser.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--other-experiments", type=int, default=4)
    parser.add_argument("--other-runs", type=int, default=5_000)
    parser.add_argument("--target-page", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--loads", type=int, default=20, help="timed browser loads per page")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    args = parser.parse_args(argv)

    from seed import seed

    workdir = Path(tempfile.mkdtemp(prefix="headrace-bench-ui-"))
    database_url = f"sqlite:///{workdir / 'headrace.db'}"
    figures: dict[str, Any] = {"load_at_start": loadavg()}
    server = None
    try:
        log(f"seeding {args.runs:,} runs ...")
        seeded = seed(
            database_url,
            workdir,
            runs=args.runs,
            other_experiments=args.other_experiments,
            other_runs=args.other_runs,
            quiet=True,
        )
        run_id = seed_parallel_for_run(database_url, workdir)
        log(f"seeded {seeded.runs_total:,} runs and a {ITERATIONS}-iteration run; serving")
        server = start_server(database_url, workdir, "WARNING")
        log("phase 1: runs list pages over loopback")
        pages = list_pages(server.base_url, seeded.experiment_id, args.target_page, args.requests)
        figures["list"] = pages
        log("phase 2: the same pages and the big run in Chromium")
        figures["browser"] = browser_figures(
            server.base_url,
            {"page_1": pages["first_path"], f"page_{args.target_page}": pages["target_path"]},
            f"/runs/{run_id}",
            args.loads,
        )
        figures["load_at_end"] = loadavg()
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    target = f"page_{args.target_page}"
    browser = figures["browser"]
    rows = [
        ("runs page 1, p95", pages["page_1"]["p95"], "ms", LIST_P95_MS),
        (f"runs {target}, p95", pages[target]["p95"], "ms", LIST_P95_MS),
        (
            "DOMContentLoaded page 1, p95",
            browser["dom_content_loaded_page_1"]["p95"],
            "ms",
            DOM_READY_MS,
        ),
        (
            f"DOMContentLoaded {target}, p95",
            browser[f"dom_content_loaded_{target}"]["p95"],
            "ms",
            DOM_READY_MS,
        ),
        (
            "1,000-iteration run: graph visible, p95",
            browser["run_page_graph_visible"]["p95"],
            "ms",
            GRAPH_VISIBLE_MS,
        ),
    ]
    print(f"== Headrace UI bench: SQLite, {seeded.runs_in_experiment:,} runs in the experiment ==")
    for label, value, unit, floor in rows:
        verdict = "PASS" if value <= floor else "BELOW"
        print(f"{label:<45} {value:8.1f} {unit}   floor <= {floor:g} {unit}   {verdict}")
    print(
        f"runs page p50: page 1 {pages['page_1']['p50']:.1f} ms,"
        f" {target} {pages[target]['p50']:.1f} ms; rows on {target}: {pages['target_rows']}"
    )
    print(
        f"1,000-iteration run page: {browser['run_page_nodes']} graph nodes drawn; requests in its"
        f" first 3 s: {browser['run_page_requests_first_3s']}"
    )
    print(f"load: {figures['load_at_start']} -> {figures['load_at_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
