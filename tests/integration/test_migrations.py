"""The Alembic tree against real databases: one head, a clean round trip from empty to head
and back, a migrated schema identical to the models, and data kept by a repeated upgrade."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, inspect

import cache_webhook
import migrations
from api_server import build_services
from api_server.backends import RunStatusEvent, TaskStatusEvent
from api_server.services import PipelineInput, PipelineSource, RunInput, VersionInput
from api_server.storage import Database, build_engine
from api_server.storage.rows import Base
from domain.settings import Settings
from metadata_store.rows import MetadataBase

# Every component's tables: the API server's, the cache's and the metadata store's.
METADATA = [Base.metadata, cache_webhook.metadata, MetadataBase.metadata]
TABLES = {table.name for metadata in METADATA for table in metadata.sorted_tables}


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    engine = build_engine(empty_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def combined_metadata() -> MetaData:
    """One MetaData holding a copy of every component's tables."""
    combined = MetaData(naming_convention=Base.metadata.naming_convention)
    for metadata in METADATA:
        for table in metadata.sorted_tables:
            table.to_metadata(combined)
    return combined


def schema_differences(engine: Engine, metadata: MetaData | None = None) -> list[Any]:
    """Autogenerate's view of what separates the live schema from ``metadata`` (by default
    every component's tables).

    ``compare_type`` is on: the TypeDecorators (EpochMicros, JSONText) are compared through
    their ``impl`` and the LONGTEXT/LONGBLOB variants through the dialect's own type, which
    produces no noise on any of the three backends, so every type difference is real drift.
    """
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata or combined_metadata()))


def test_the_tree_has_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert migrations.head_revision() == script.get_current_head()
    # One line of history: a single base, and no revision with two parents.
    assert len(script.get_bases()) == 1
    assert all(not isinstance(rev.down_revision, tuple) for rev in script.walk_revisions())


def test_upgrade_downgrade_upgrade_round_trip(empty_database_url: str, engine: Engine) -> None:
    assert migrations.current_revision(engine) is None
    assert inspect(engine).get_table_names() == []

    migrations.upgrade(empty_database_url)
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    assert not migrations.pending_revisions(engine)

    migrations.downgrade(empty_database_url, "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    assert migrations.current_revision(engine) is None
    assert migrations.pending_revisions(engine)

    migrations.upgrade(empty_database_url)
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert schema_differences(engine) == []


def test_migrated_schema_matches_the_models(empty_database_url: str, engine: Engine) -> None:
    migrations.upgrade(empty_database_url)
    assert schema_differences(engine) == []


def test_schema_comparison_notices_drift(empty_database_url: str, engine: Engine) -> None:
    # The comparison above is only worth something if it can fail: a model with one column
    # more, and one with a column of another type, must both be reported.
    migrations.upgrade(empty_database_url)
    drifted = combined_metadata()
    drifted.tables["runs"].append_column(Column("extra", Integer, nullable=True))
    size = drifted.tables["pipeline_specs"].c.size_bytes
    size.type = drifted.tables["runs"].c.display_name.type
    drifted.tables["cache_entries"].append_column(Column("extra", Integer, nullable=True))
    drifted.tables["mlmd_events"].append_column(Column("extra", Integer, nullable=True))
    differences = schema_differences(engine, drifted)
    kinds = sorted(str(d[0][0] if isinstance(d, list) else d[0]) for d in differences)
    assert kinds == ["add_column", "add_column", "add_column", "modify_type"], differences


def test_the_cache_table_follows_the_shared_naming_convention() -> None:
    assert cache_webhook.metadata.naming_convention == Base.metadata.naming_convention


def test_upgrade_at_head_keeps_data(
    empty_database_url: str,
    engine: Engine,
    tmp_path: Path,
    compiled_spec: Callable[[str], dict[str, Any]],
) -> None:
    migrations.upgrade(empty_database_url)
    settings = Settings(database_url=empty_database_url, data_dir=tmp_path / "data")
    db = Database(build_engine(empty_database_url))
    try:
        services = build_services(settings, db)
        spec = compiled_spec("scalar_params")
        pipeline = services.pipelines.create_with_version(
            PipelineInput(name="kept"), VersionInput(name="v1", pipeline_spec=spec)
        )
        experiment = services.experiments.create("kept-experiment", "survives", "team-a")
        run = services.runs.create(
            RunInput(
                display_name="kept-run",
                experiment_id=experiment.experiment_id,
                source=PipelineSource(pipeline_id=pipeline.pipeline_id),
                runtime_config={"parameters": {"label": "unchanged", "count": 3}},
            )
        )
        services.runs.report_status(
            RunStatusEvent(
                run_id=run.run_id,
                generation=0,
                update_time=run.created_at,
                state="RUNNING",
                tasks=[TaskStatusEvent("task-1", "RUNNING", run.created_at, display_name="t")],
            )
        )
        before = services.runs.get(run.run_id)

        migrations.upgrade(empty_database_url)  # already at head: nothing to do
        assert migrations.current_revision(engine) == migrations.head_revision()

        fresh = build_services(settings, db)  # an empty spec cache: read from the database
        after = fresh.runs.get(run.run_id)
        assert after == before
        assert after.state == "RUNNING"
        assert after.runtime_config == {"parameters": {"label": "unchanged", "count": 3}}
        assert [t.task_id for t in after.tasks or []] == ["task-1"]
        assert fresh.experiments.get(experiment.experiment_id) == services.experiments.get(
            experiment.experiment_id
        )
        version = fresh.pipelines.get_version(pipeline.pipeline_id, run.pipeline_version_id or "")
        assert version.pipeline_spec == spec
    finally:
        db.dispose()


def test_schedule_state_of_existing_recurring_runs_starts_at_the_upgrade(
    empty_database_url: str,
    engine: Engine,
    tmp_path: Path,
    compiled_spec: Callable[[str], dict[str, Any]],
) -> None:
    """0005 on recurring runs created before it: they start from the upgrade (no backfill
    of a past during which nothing could fire), and its downgrade keeps them."""
    from datetime import UTC, datetime

    from api_server.services import RecurringRunInput, Trigger
    from api_server.storage import recurring_runs as recurring_store

    migrations.upgrade(empty_database_url)
    settings = Settings(database_url=empty_database_url, data_dir=tmp_path / "data")
    db = Database(build_engine(empty_database_url))
    try:
        services = build_services(settings, db)
        recurring = services.recurring_runs.create(
            RecurringRunInput(
                display_name="old schedule",
                source=PipelineSource(pipeline_spec=compiled_spec("minimal")),
                trigger=Trigger(interval_seconds=60, start_time="2020-01-01T00:00:00Z"),
            )
        )
        migrations.downgrade(empty_database_url, "0002")
        columns = {c["name"] for c in inspect(engine).get_columns("recurring_runs")}
        assert not columns & {"fire_after", "next_fire_at", "last_index"}
        upgraded_at = datetime.now(UTC)
        migrations.upgrade(empty_database_url)
        with db.read() as session:
            state = recurring_store.schedule_state(session, recurring.recurring_run_id)
        assert state["fire_after"] >= upgraded_at.replace(microsecond=0)
        assert state["next_fire_at"] == state["fire_after"]
        assert state["last_index"] == 0
        assert services.recurring_runs.get(recurring.recurring_run_id).display_name == (
            "old schedule"
        )
    finally:
        db.dispose()
