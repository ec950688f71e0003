"""The run counters behind total_size stay equal to a count of the runs, whatever happens
to the runs, on every backend."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from api_server.backends import RunStatusEvent
from api_server.rest.dependencies import Services
from api_server.services import ListQuery, PipelineSource, RunInput
from api_server.storage.rows import RunCountRow, RunRow


def _counters(services: Services) -> dict[tuple[str, str, str], int]:
    with services.db.read() as session:
        rows = session.execute(
            select(
                RunCountRow.experiment_id,
                RunCountRow.storage_state,
                RunCountRow.state,
                RunCountRow.run_count,
            )
        ).all()
    return {(e, s, st): n for e, s, st, n in rows if n}


def _actual(services: Services) -> dict[tuple[str, str, str], int]:
    with services.db.read() as session:
        rows = session.execute(
            select(RunRow.experiment_id, RunRow.storage_state, RunRow.state, func.count()).group_by(
                RunRow.experiment_id, RunRow.storage_state, RunRow.state
            )
        ).all()
    return {(e, s, st): n for e, s, st, n in rows}


def _assert_exact(services: Services) -> None:
    assert _counters(services) == _actual(services)


def _run(services: Services, experiment_id: str, spec: dict[str, Any], name: str) -> str:
    data = RunInput(
        display_name=name,
        source=PipelineSource(pipeline_spec=spec),
        experiment_id=experiment_id,
        runtime_config={"parameters": {"message": "m"}} if _needs_message(spec) else None,
    )
    return services.runs.create(data).run_id


def _needs_message(spec: dict[str, Any]) -> bool:
    params = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return "message" in params and not params["message"].get("isOptional")


def test_counters_follow_every_change_to_runs(services: Services, compiled_spec) -> None:
    spec = compiled_spec("minimal")
    first = services.experiments.create("counted one", None, "")
    second = services.experiments.create("counted two", None, "")
    runs = [_run(services, first.experiment_id, spec, f"r{i}") for i in range(6)]
    others = [_run(services, second.experiment_id, spec, f"o{i}") for i in range(3)]
    _assert_exact(services)

    services.runs.archive(runs[0])
    services.runs.terminate(runs[1])
    _assert_exact(services)
    services.runs.retry(runs[1])
    _assert_exact(services)

    later = services.runs.get(runs[2]).created_at + timedelta(seconds=5)
    for state, offset in (("RUNNING", 0), ("SUCCEEDED", 1), ("SUCCEEDED", 2)):
        services.runs.report_status(
            RunStatusEvent(
                run_id=runs[2],
                generation=0,
                update_time=later + timedelta(seconds=offset),
                state=state,
            )
        )
    _assert_exact(services)

    services.runs.delete(runs[3])
    services.runs.unarchive(runs[0])
    _assert_exact(services)

    services.experiments.archive(first.experiment_id)
    _assert_exact(services)
    services.experiments.unarchive(first.experiment_id)
    _assert_exact(services)

    services.experiments.delete(second.experiment_id)
    _assert_exact(services)
    assert not any(key[0] == second.experiment_id for key in _counters(services))
    assert len(others) == 3


def test_total_size_from_counters_matches_the_filter(services: Services, compiled_spec) -> None:
    spec = compiled_spec("minimal")
    experiment = services.experiments.create("totals", None, "")
    ids = [_run(services, experiment.experiment_id, spec, f"t{i}") for i in range(7)]
    services.runs.archive(ids[0])
    services.runs.terminate(ids[1])
    services.runs.terminate(ids[2])

    def total(filter_: dict[str, Any] | None, **scope: Any) -> int:
        query = ListQuery(filter=json.dumps(filter_) if filter_ else None, page_size=2)
        return services.runs.list(
            query, experiment_id=scope.get("experiment_id"), namespace=scope.get("namespace")
        ).total_size

    by_experiment = {"experiment_id": experiment.experiment_id}
    assert total(None, **by_experiment) == 7
    assert total(None, namespace="") == 7
    state = {"predicates": [{"operation": "EQUALS", "key": "state", "string_value": "CANCELED"}]}
    assert total(state, **by_experiment) == 2
    archived = {
        "predicates": [
            {"operation": "NOT_EQUALS", "key": "storage_state", "string_value": "ARCHIVED"}
        ]
    }
    assert total(archived, **by_experiment) == 6
    states = {
        "predicates": [
            {
                "operation": "IN",
                "key": "state",
                "string_values": {"values": ["PENDING", "CANCELED"]},
            }
        ]
    }
    assert total(states, namespace="") == 7
    # A filter the counters cannot answer is counted on the runs themselves.
    named = {
        "predicates": [{"operation": "IS_SUBSTRING", "key": "display_name", "string_value": "t1"}]
    }
    assert total(named, **by_experiment) == 1


def test_claiming_an_experiment_for_a_run_refuses_archived_or_missing_ones(
    services: Services,
) -> None:
    from datetime import UTC, datetime

    from api_server.storage import experiments as experiment_store

    experiment = services.experiments.create("claimed", None, "")
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    with services.db.write() as session:
        assert experiment_store.claim_for_run(session, experiment.experiment_id, moment)
    # An older run time never moves last_run_created_at back, and still claims the row.
    with services.db.write() as session:
        assert experiment_store.claim_for_run(
            session, experiment.experiment_id, moment - timedelta(days=1)
        )
    assert services.experiments.get(experiment.experiment_id).last_run_created_at == moment

    services.experiments.archive(experiment.experiment_id)
    with services.db.write() as session:
        assert not experiment_store.claim_for_run(session, experiment.experiment_id, moment)
        assert not experiment_store.claim_for_run(session, "no-such-experiment", moment)
