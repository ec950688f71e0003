"""The web UI in a real browser against a real ``headrace serve``, with data created
through the real kfp SDK. Assertions are on what a person sees: text, states, controls."""

# No "from __future__ import annotations": kfp reads the component annotations at runtime.

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import corpus, unique

pytestmark = pytest.mark.e2e

XSS_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def experiment(kfp_client):
    return kfp_client.create_experiment(unique("ui exp"))


@pytest.fixture(scope="module")
def scalar_pipeline(kfp_client):
    pipeline = kfp_client.upload_pipeline(
        str(corpus("scalar_params")), pipeline_name=unique("ui scalar")
    )
    version = kfp_client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    return pipeline, version


def _run(kfp_client, experiment, name: str, package: str = "loops", **arguments):
    return kfp_client.run_pipeline(
        experiment_id=experiment.experiment_id,
        job_name=name,
        pipeline_package_path=str(corpus(package)),
        params=arguments,
    ).run_id


def test_runs_list_leads_to_a_run_with_its_graph_all_pending(
    page: Page, server, kfp_client, experiment
) -> None:
    name = unique("graph run")
    run_id = _run(kfp_client, experiment, name)
    page.goto(f"{server.url}/runs?experiment_id={experiment.experiment_id}")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row.get_by_text("pending")).to_be_visible()
    row.get_by_role("link", name=name).click()

    expect(page).to_have_url(re.compile(f"/runs/{run_id}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.locator("#run-state")).to_have_text(re.compile("pending"))
    # The loops pipeline's root DAG: its four loops and three plain steps, all pending.
    root = page.locator(".dag-section[data-dag='']")
    for step in ("for-loop-2", "for-loop-3", "list-names", "merge-shards", "total"):
        node = root.get_by_role("button", name=re.compile(f"^{step}: "))
        expect(node).to_be_visible()
        expect(node).to_have_attribute("aria-label", f"{step}: pending")

    # A loop opens its own graph; the page says what it iterates over.
    root.get_by_role("button", name=re.compile("^for-loop-2: ")).click()
    panel = page.locator("#panel")
    expect(panel).to_contain_text("ParallelFor over 3 items")
    expect(panel).to_contain_text("no task has been recorded")
    panel.get_by_role("button", name="Open loop graph").click()
    inner = page.locator(".dag-section[data-dag='for-loop-2']")
    expect(inner).to_be_visible()
    expect(inner.get_by_role("button", name=re.compile("^square: pending"))).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]


def test_graph_nodes_are_reachable_by_keyboard(page: Page, server, kfp_client, experiment) -> None:
    run_id = _run(kfp_client, experiment, unique("keyboard run"), "exit_handling")
    page.goto(f"{server.url}/runs/{run_id}")
    node = page.get_by_role("button", name=re.compile("^cleanup: "))
    node.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#panel")).to_contain_text("exit handler")


def test_create_run_from_the_form_with_messages_next_to_fields(
    page: Page, server, scalar_pipeline
) -> None:
    pipeline, version = scalar_pipeline
    page.goto(f"{server.url}/pipelines")
    page.get_by_role("searchbox", name="Name contains").fill(pipeline.display_name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=pipeline.display_name).click()
    page.get_by_role("link", name="Create run", exact=True).click()

    # Defaults from the spec fill the typed controls.
    expect(page.get_by_label("count")).to_have_value("4")
    expect(page.get_by_label("tags")).to_have_value('["x", "y"]')
    name = unique("form run")
    page.get_by_label("Run name").fill(name)
    page.get_by_label("count").fill("three")
    page.get_by_label("tags").fill('{"not": "a list"}')
    page.get_by_role("button", name="Start run").click()

    expect(page.get_by_role("alert")).to_contain_text("The run was not created")
    expect(page.locator("#err-count")).to_have_text("must be a whole number, got 'three'")
    expect(page.locator("#err-tags")).to_contain_text("must be a JSON list")
    expect(page.get_by_label("count")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("count").fill("7")
    page.get_by_label("tags").fill('["a", "b", "c"]')
    page.get_by_role("button", name="Start run").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    parameters = page.locator("table.kv").first
    expect(parameters.get_by_role("row", name=re.compile("^count"))).to_contain_text("7")
    expect(parameters.get_by_role("row", name=re.compile("^tags"))).to_contain_text(
        '["a", "b", "c"]'
    )
    run_id = page.url.rsplit("/", 1)[-1]
    run = httpx.get(f"{server.url}/apis/v2beta1/runs/{run_id}").json()
    assert run["runtime_config"]["parameters"]["count"] == 7
    assert run["pipeline_version_reference"]["pipeline_version_id"] == version.pipeline_version_id


def test_terminate_a_pending_run_from_its_page(page: Page, server, kfp_client, experiment) -> None:
    run_id = _run(kfp_client, experiment, unique("to stop"), "minimal")
    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.locator("#run-state")).to_have_text(re.compile("pending"))
    page.get_by_role("button", name="Terminate").click()
    # Without an engine a pending run is cancelled at once; the page reloads to show it.
    expect(page.locator("#run-state")).to_have_text(re.compile("canceled"))
    expect(page.get_by_role("button", name="Terminate")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    assert page.dialogs == ["Terminate this run?"]  # type: ignore[attr-defined]


def test_compare_two_runs_highlights_differences(
    page: Page, server, kfp_client, scalar_pipeline
) -> None:
    pipeline, version = scalar_pipeline
    compare_exp = kfp_client.create_experiment(unique("compare exp"))
    for name, count in (("cmp-a", 1), ("cmp-b", 2)):
        kfp_client.run_pipeline(
            experiment_id=compare_exp.experiment_id,
            job_name=name,
            pipeline_id=pipeline.pipeline_id,
            version_id=version.pipeline_version_id,
            params={"count": count, "label": "same"},
        )
    page.goto(f"{server.url}/runs?experiment_id={compare_exp.experiment_id}")
    page.get_by_role("checkbox", name="Select cmp-a to compare").check()
    page.get_by_role("checkbox", name="Select cmp-b to compare").check()
    page.get_by_role("button", name="Compare selected runs").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Compare 2 runs")
    parameters = page.locator("section").filter(has=page.get_by_role("heading", name="Parameters"))
    count_row = parameters.get_by_role("row", name=re.compile("^count"))
    expect(count_row).to_contain_text("differs")
    # Columns follow the list's order, newest first.
    expect(parameters.get_by_role("columnheader")).to_have_text(["Parameters", "cmp-b", "cmp-a"])
    expect(count_row.get_by_role("cell")).to_have_text(["2", "1"])
    label_row = parameters.get_by_role("row", name=re.compile("^label"))
    expect(label_row).not_to_contain_text("differs")
    expect(label_row.get_by_role("cell")).to_have_text(["same", "same"])


def test_a_run_named_like_markup_shows_as_text(page: Page, server, kfp_client, experiment) -> None:
    run_id = _run(kfp_client, experiment, XSS_NAME, "minimal")
    page.goto(f"{server.url}/runs?experiment_id={experiment.experiment_id}")
    expect(page.get_by_role("link", name=XSS_NAME)).to_be_visible()
    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(XSS_NAME)
    assert page.locator("main img").count() == 0
    page.goto(f"{server.url}/compare?run_id={run_id}&run_id={run_id}")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.errors == []  # type: ignore[attr-defined]


def test_unknown_ids_get_a_not_found_page(page: Page, server) -> None:
    for path, what in (
        ("/runs/no-such-run", "run 'no-such-run' does not exist"),
        ("/experiments/nope", "experiment 'nope' does not exist"),
        ("/pipelines/nope", "pipeline 'nope' does not exist"),
        ("/recurring-runs/nope", "recurring run 'nope' does not exist"),
        ("/no/such/page", "There is no page at /no/such/page."),
    ):
        response = page.goto(server.url + path)
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(page.get_by_role("alert")).to_have_text(what)
        expect(page.get_by_role("link", name="Back to runs")).to_be_visible()
    # API paths keep their JSON errors.
    assert httpx.get(server.url + "/apis/v2beta1/nope").json()["code"] == 5


def test_bad_list_input_is_a_message_not_a_stack_trace(page: Page, server) -> None:
    response = page.goto(f"{server.url}/runs?page_token=garbage")
    assert response is not None and response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("page_token")
    expect(page.locator("body")).not_to_contain_text("Traceback")


def test_experiment_archive_and_unarchive(page: Page, server, kfp_client) -> None:
    exp = kfp_client.create_experiment(unique("archive me"))
    page.goto(f"{server.url}/experiments")
    page.get_by_role("link", name=exp.display_name).click()
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("archived")
    page.get_by_role("button", name="Unarchive").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("available")
    assert kfp_client.get_experiment(exp.experiment_id).storage_state == "AVAILABLE"


def test_recurring_runs_show_next_fire_time_and_toggle(page: Page, server, kfp_client) -> None:
    exp = kfp_client.create_experiment(unique("sched"))
    name = unique("nightly")
    recurring = kfp_client.create_recurring_run(
        experiment_id=exp.experiment_id,
        job_name=name,
        cron_expression="0 30 2 * * *",
        pipeline_package_path=str(corpus("minimal")),
    )
    page.goto(f"{server.url}/recurring-runs?name={name}")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("cron 0 30 2 * * * (UTC)")
    expect(row).to_contain_text("enabled")
    # The next fire time is 02:30 UTC, shown in the browser's zone with UTC on hover.
    next_time = row.get_by_role("cell").nth(3).locator("time")
    expect(next_time).to_have_attribute("title", re.compile(r"\d{4}-\d{2}-\d{2} 02:30:00 UTC"))
    expect(next_time).to_contain_text("3:30:00")  # Europe/Berlin in November is UTC+1
    row.get_by_role("button", name="Disable").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("disabled")
    assert kfp_client.get_recurring_run(recurring.recurring_run_id).status == "DISABLED"
    row.get_by_role("link", name=name).click()
    expect(page.get_by_text("None: the schedule is disabled.")).to_be_visible()
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("enabled")
    expect(page.locator("ol time")).to_have_count(5)


def test_pages_fit_a_phone_screen(page: Page, server, kfp_client, experiment) -> None:
    run_id = _run(kfp_client, experiment, unique("phone run"), "nested_pipelines")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/runs", f"/runs/{run_id}", "/experiments", "/pipelines", "/recurring-runs"):
        page.goto(server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide at 390px"
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def test_a_refused_action_shows_the_api_message(page: Page, server, kfp_client) -> None:
    exp = kfp_client.create_experiment(unique("archived exp"))
    run_id = kfp_client.run_pipeline(
        experiment_id=exp.experiment_id,
        job_name=unique("archived run"),
        pipeline_package_path=str(corpus("minimal")),
    ).run_id
    kfp_client.archive_experiment(exp.experiment_id)
    page.goto(f"{server.url}/runs/{run_id}")
    page.get_by_role("button", name="Restore from archive").click()
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("unarchive the experiment first")
    expect(page.get_by_role("button", name="Restore from archive")).to_be_enabled()


def test_runs_list_filters_by_name_state_and_time(
    page: Page, server, kfp_client, experiment
) -> None:
    tag = unique("filtered")
    stopped = _run(kfp_client, experiment, f"{tag} stopped", "minimal")
    _run(kfp_client, experiment, f"{tag} waiting", "minimal")
    kfp_client.terminate_run(stopped)
    page.goto(f"{server.url}/runs")
    page.get_by_role("searchbox", name="Name contains").fill(tag)
    page.get_by_label("State").select_option("CANCELED")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{tag} stopped")
    expect(rows.first).to_contain_text("canceled")

    page.get_by_label("State").select_option("")
    page.get_by_label("Created from").fill("2001-01-01T00:00")
    page.get_by_label("to", exact=True).fill("2001-01-02T00:00")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_text(["No runs match."])
    page.get_by_label("to", exact=True).fill("")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(2)


def test_kfp_client_links_open_the_run_page(page: Page, server, kfp_client, experiment) -> None:
    run_id = _run(kfp_client, experiment, unique("linked"), "minimal")
    page.goto(f"{server.url}/#/runs/details/{run_id}")
    expect(page).to_have_url(f"{server.url}/runs/{run_id}")
