"""The web UI's pure cores: graph layout and task mapping, the run form, schedules,
artifact views and the display filters."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from api_server.ui import artifacts, forms, graph, schedule
from api_server.ui.runs import cache_status, failed_attempts
from api_server.ui.templating import human_duration, state_badge, timestamp
from domain.resources import RecurringRun, RuntimeStatus, Task

COMPILED = Path(__file__).resolve().parents[1] / "pipelines" / "compiled"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def spec(name: str) -> dict[str, Any]:
    return next(yaml.safe_load_all((COMPILED / f"{name}.yaml").read_text()))


def task(task_id: str, name: str, state: str, parent: str | None = None) -> Task:
    return Task(task_id, "run", name, state, NOW, parent_task_id=parent)


def test_every_dag_is_laid_out_root_first() -> None:
    dags = graph.pipeline_graph(spec("loops"))
    assert [d.key for d in dags] == [
        "",
        "for-loop-2",
        "for-loop-3",
        "for-loop-3/for-loop-4",
        "for-loop-6",
        "for-loop-7",
    ]
    root = {n.key: n for n in dags[0].nodes}
    assert root["for-loop-2"].kind == "loop"
    assert root["for-loop-2"].detail == "ParallelFor over 3 items"
    assert root["for-loop-3"].detail == "ParallelFor over numbers, 2 at a time"
    assert root["list-names"].kind == "task"
    # merge-shards waits for for-loop-7, which waits for list-names: three rows.
    assert root["list-names"].y < root["for-loop-7"].y < root["merge-shards"].y
    assert {(e.source, e.target) for e in dags[0].edges} >= {
        ("list-names", "for-loop-7"),
        ("for-loop-7", "merge-shards"),
    }


def test_exit_handler_and_sub_dag_are_marked() -> None:
    dags = graph.pipeline_graph(spec("exit_handling"))
    root = {n.key: n for n in dags[0].nodes}
    assert root["cleanup"].is_exit_handler
    assert root["cleanup"].detail.startswith("exit handler")
    assert root["exit-handler-1"].kind == "dag"
    assert root["exit-handler-1"].child == "exit-handler-1"
    inner = {n.key for n in dags[1].nodes}
    assert inner == {"exit-handler-1/risky", "exit-handler-1/risky-2", "exit-handler-1/tidy"}


def test_nodes_in_one_row_do_not_overlap() -> None:
    for name in ("loops", "composed_graphs", "mixed_control", "nested_pipelines"):
        for dag in graph.pipeline_graph(spec(name)):
            boxes = sorted((n.y, n.x) for n in dag.nodes)
            for (y1, x1), (y2, x2) in itertools.pairwise(boxes):
                assert y1 != y2 or x2 - x1 >= graph.NODE_WIDTH, (name, dag.key)
            assert all(n.x + graph.NODE_WIDTH <= dag.width for n in dag.nodes)


def test_iterations_collapse_onto_their_node_with_counts() -> None:
    tasks = [
        task("r", "loops-pipeline", "RUNNING"),
        task("l", "for-loop-2", "RUNNING", "r"),
        *(task(f"i{i}", f"for-loop-2-iteration-{i}", "RUNNING", "l") for i in range(3)),
        task("s0", "square", "SUCCEEDED", "i0"),
        task("s1", "square", "FAILED", "i1"),
        task("s2", "square", "RUNNING", "i2"),
        task("n", "list-names", "SUCCEEDED", "r"),
    ]
    statuses = graph.node_statuses(spec("loops"), tasks)
    assert statuses["for-loop-2"].iterations == 3
    assert statuses["for-loop-2"].state == "RUNNING"
    square = statuses["for-loop-2/square"]
    assert square.state == "FAILED"
    assert square.summary == "3 tasks: 1 failed, 1 running, 1 succeeded"
    assert sorted(square.task_ids) == ["s0", "s1", "s2"]
    assert statuses["list-names"].state == "SUCCEEDED"
    assert "total" not in statuses


def test_tasks_directly_under_a_loop_still_count() -> None:
    tasks = [task("l", "for-loop-2", "SUCCEEDED"), task("a", "square", "SUCCEEDED", "l")]
    statuses = graph.node_statuses(spec("loops"), tasks)
    assert statuses["for-loop-2/square"].state == "SUCCEEDED"
    assert statuses["for-loop-2"].iterations == 0


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["SUCCEEDED", "SKIPPED"], "SUCCEEDED"),
        (["SKIPPED", "SKIPPED"], "SKIPPED"),
        (["SUCCEEDED", "PENDING"], "PENDING"),
        (["CANCELED", "SUCCEEDED"], "CANCELED"),
        (["RUNNING", "FAILED"], "FAILED"),
        ([], None),
    ],
)
def test_aggregate_state(states: list[str], expected: str | None) -> None:
    assert graph.aggregate_state(states) == expected


def test_run_form_fields_are_typed_with_defaults() -> None:
    fields = {f.name: f for f in forms.run_form_fields(spec("scalar_params"))}
    assert fields["count"].control == "integer"
    assert fields["count"].default_text == "4"
    assert fields["enabled"].control == "boolean"
    assert fields["enabled"].default_text == "true"
    assert fields["tags"].default_text == '["x", "y"]'


def test_run_form_parses_and_names_each_problem() -> None:
    fields = forms.run_form_fields(spec("scalar_params"))
    values, errors = forms.parse_run_form(
        fields,
        {
            "param.count": " 12 ",
            "param.ratio": "nan",
            "param.enabled": "false",
            "param.tags": "[1",
            "param.options": "[]",
            "param.label": "",
        },
    )
    assert values == {"count": 12, "enabled": False}
    assert errors == {
        "ratio": "must be a finite number",
        "tags": "is not valid JSON: Expecting ',' delimiter at character 3",
        "options": 'must be a JSON object, e.g. {"a": 1}',
    }


def test_required_field_without_default() -> None:
    field = forms.FormField("n", "NUMBER_INTEGER", "integer", "", False, None, False, "")
    assert forms.parse_run_form([field], {}) == (
        {},
        {"n": "required: this pipeline has no default for it"},
    )


def recurring(**values: Any) -> RecurringRun:
    base: dict[str, Any] = dict(
        recurring_run_id="r",
        display_name="r",
        description="",
        experiment_id="e",
        namespace="",
        pipeline_id=None,
        pipeline_version_id=None,
        spec_digest="d",
        runtime_config=None,
        service_account="",
        max_concurrency=1,
        cron=None,
        interval_seconds=None,
        start_time=None,
        end_time=None,
        no_catchup=False,
        status="ENABLED",
        plugins_input=None,
        created_at=NOW - timedelta(minutes=90),
        updated_at=NOW,
    )
    base.update(values)
    return RecurringRun(**base)


def test_next_fire_times_of_cron_and_interval() -> None:
    cron = recurring(cron="0 30 2 * * *")
    assert schedule.next_fire_times(cron, NOW, 2) == [
        datetime(2026, 3, 2, 2, 30, tzinfo=UTC),
        datetime(2026, 3, 3, 2, 30, tzinfo=UTC),
    ]
    assert schedule.next_fire_times(recurring(cron="*/15 * * * *"), NOW) == [
        datetime(2026, 3, 1, 12, 15, tzinfo=UTC)
    ]
    hourly = recurring(interval_seconds=3600)  # created 10:30: fires 11:30, 12:30, ...
    assert schedule.next_fire_times(hourly, NOW) == [datetime(2026, 3, 1, 12, 30, tzinfo=UTC)]
    assert schedule.describe_trigger(hourly) == "every 1 hour"
    assert schedule.describe_trigger(recurring(interval_seconds=90)) == "every 90 seconds"


def test_no_fire_time_when_disabled_before_start_or_after_end() -> None:
    assert schedule.next_fire_times(recurring(cron="0 * * * *", status="DISABLED"), NOW) == []
    ended = recurring(cron="0 * * * *", end_time=NOW + timedelta(minutes=30))
    assert schedule.next_fire_times(ended, NOW) == []
    later = recurring(interval_seconds=60, start_time=NOW + timedelta(days=1))
    assert schedule.next_fire_times(later, NOW) == [NOW + timedelta(days=1)]


def test_artifact_views_by_type() -> None:
    outputs = {
        "artifacts": {
            "m": [{"type": {"schemaTitle": "system.Metrics"}, "metadata": {"acc": 0.5}}],
            "c": [
                {
                    "type": {"schemaTitle": "system.ClassificationMetrics"},
                    "metadata": {
                        "confusionMatrix": {
                            "annotationSpecs": [{"displayName": "a"}, {"displayName": "b"}],
                            "rows": [{"row": [1, 2]}, {"row": [3, 4]}],
                        },
                        "confidenceMetrics": [
                            {"confidenceThreshold": 0.5, "falsePositiveRate": 0.5, "recall": 1}
                        ],
                    },
                }
            ],
            "d": [{"uri": "s3://b/k", "type": {"schemaTitle": "system.Dataset"}}],
        }
    }
    views = {v.output: v for v in artifacts.artifact_views("run 1", "t/1", outputs)}
    assert views["m"].metrics == [("acc", 0.5)]
    assert views["c"].confusion == artifacts.ConfusionMatrix(["a", "b"], [[1, 2], [3, 4]])
    assert views["c"].roc_points == "120.0,0.0"
    assert views["d"].preview == "data"
    assert views["d"].read_url == "/apis/v2beta1/runs/run%201/nodes/t%2F1/artifacts/d:read"
    assert artifacts.metric_values(outputs) == {"m.acc": 0.5}


def test_display_filters_escape_and_humanise() -> None:
    assert human_duration(0.25) == "250 ms"
    assert human_duration(3725) == "1h 2m"
    assert human_duration(93784) == "1d 2h"
    assert 'datetime="2026-03-01T12:00:00Z"' in timestamp(NOW)
    assert "2026-03-01 12:00:00 UTC" in timestamp(NOW)
    badge = state_badge("<b>")
    assert "<b>" not in badge and "&lt;b&gt;" in badge
    assert "failed" in state_badge("FAILED") and "state-bad" in state_badge("FAILED")


def test_tasks_match_by_display_name_first() -> None:
    statuses = graph.node_statuses(
        spec("scalar_params"),
        [task("a", "Shape all the values", "SUCCEEDED"), task("b", "measure", "RUNNING")],
    )
    assert statuses["shape-values"].state == "SUCCEEDED"
    assert statuses["measure"].state == "RUNNING"
    assert graph.aggregate_state(["CACHED", "CACHED"]) == "CACHED"
    assert graph.aggregate_state(["CACHED", "SUCCEEDED"]) == "SUCCEEDED"


def history(*states: str) -> list[RuntimeStatus]:
    return [RuntimeStatus(state, NOW) for state in states]


@pytest.mark.parametrize(
    ("state", "states", "detail", "expected"),
    [
        ("SUCCEEDED", ("PENDING", "SUCCEEDED"), None, "used cached outputs"),
        ("SUCCEEDED", ("PENDING", "RUNNING", "SUCCEEDED"), None, "executed"),
        ("SUCCEEDED", ("RUNNING", "SUCCEEDED"), {"cache_hit": False}, "executed (cache miss)"),
        ("CACHED", ("CACHED",), None, "used cached outputs"),
        ("PENDING", (), None, "not recorded"),
    ],
)
def test_cache_status(state: str, states: tuple[str, ...], detail: Any, expected: str) -> None:
    record = replace(task("t", "x", state), state_history=history(*states), executor_detail=detail)
    assert cache_status(record) == expected


def test_failed_attempts_of_a_retried_task() -> None:
    record = replace(task("t", "x", "SUCCEEDED"), executor_detail={"failed_main_jobs": [1, 2]})
    assert failed_attempts(record) == [1, 2]
    assert failed_attempts(task("t", "x", "SUCCEEDED")) == []
