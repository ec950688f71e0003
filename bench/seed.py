"""Seed a Headrace database with many runs, fast: through the storage layer, not HTTP.

The experiments and the pipeline (+ its first version) are created through the services,
exactly as the API would; the runs and their first ``run_state_history`` row are then
bulk-inserted with SQLAlchemy Core ``insert(RunRow)`` executemany in batches, writing the
same columns and values as ``api_server.storage.runs.insert_run`` does for a run created
from an existing pipeline version (state PENDING, no runtime_config, scheduled_at =
created_at), with ``created_at`` strictly increasing. Each experiment's
``last_run_created_at`` is moved forward as ``touch_last_run`` would, and its run counters
(``api_server.storage.run_counts``, where the storage has them) are rebuilt.

Layout: ``--runs`` runs in the *measured* experiment plus ``--other-runs`` runs in each of
``--other-experiments`` other experiments, interleaved in time, so the measured list query
has to skip other experiments' rows in the shared indexes.

    .venv/bin/python bench/seed.py --database-url sqlite:////tmp/x/headrace.db --runs 100000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PIPELINE_FILE = REPO / "tests" / "pipelines" / "compiled" / "minimal.yaml"


@dataclass
class SeedResult:
    database_url: str
    experiment_id: str  # the measured experiment
    other_experiment_ids: list[str]
    pipeline_id: str
    pipeline_version_id: str
    runs_in_experiment: int
    runs_total: int
    seconds: float
    sample_run_ids: list[str] = field(default_factory=list)  # spread over the whole range

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _run_values(
    run_id: str,
    experiment_id: str,
    index: int,
    pipeline_id: str,
    version_id: str,
    digest: str,
    created_at: datetime,
) -> dict[str, Any]:
    # Mirrors api_server.storage.runs.insert_run for RunService.create with a version reference.
    return {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "namespace": "",
        "display_name": f"bench-run-{index}",
        "description": "",
        "pipeline_id": pipeline_id,
        "pipeline_version_id": version_id,
        "spec_digest": digest,
        "runtime_config": None,
        "service_account": "",
        "storage_state": "AVAILABLE",
        "state": "PENDING",
        "state_updated_at": created_at,
        "generation": 0,
        "error": None,
        "recurring_run_id": None,
        "plugins_input": None,
        "created_at": created_at,
        "scheduled_at": created_at,
        "finished_at": None,
    }


def _recount_if_counted(session: Any, experiment_id: str) -> None:
    """If the storage keeps per-experiment run counters (``run_counts``, which insert_run
    maintains), rebuild them for the bulk-inserted runs, as insert_run would have."""
    try:
        from api_server.storage import run_counts
    except ImportError:  # storage without counters: nothing to keep in step
        return
    run_counts.recount(session, experiment_id)


def seed(
    database_url: str,
    data_dir: Path,
    *,
    runs: int = 100_000,
    other_experiments: int = 4,
    other_runs: int = 5_000,
    batch_size: int = 2_000,
    sample_size: int = 2_000,
    quiet: bool = False,
) -> SeedResult:
    from sqlalchemy import insert, update

    import migrations
    from api_server import build_services
    from api_server.services.context import ListQuery
    from api_server.services.pipelines import PipelineInput
    from api_server.storage import Database, build_engine
    from api_server.storage.rows import ExperimentRow, RunRow, RunStateRow
    from domain.settings import Settings

    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(database_url)
    db = Database(build_engine(database_url))
    try:
        services = build_services(Settings(database_url=database_url, data_dir=data_dir), db)
        measured = services.experiments.create("bench-measured", "100k runs live here", None)
        others = [
            services.experiments.create(f"bench-other-{i}", None, None)
            for i in range(other_experiments)
        ]
        pipeline = services.pipelines.upload(
            PIPELINE_FILE.read_bytes(), PIPELINE_FILE.name, PipelineInput(name="bench-minimal")
        )
        version = services.pipelines.list_versions(pipeline.pipeline_id, ListQuery()).items[0]

        # Interleave: a deterministic shuffle of experiment slots, then increasing times.
        slots = [measured.experiment_id] * runs
        for other in others:
            slots += [other.experiment_id] * other_runs
        rng = random.Random(42)
        rng.shuffle(slots)
        total = len(slots)
        # Runs created one millisecond apart, ending a minute ago (HTTP-created runs go after).
        start = datetime.now(UTC) - timedelta(minutes=1) - timedelta(milliseconds=total)
        sample_every = max(1, runs // sample_size)
        sample: list[str] = []
        last_by_experiment: dict[str, datetime] = {}
        measured_index = 0
        for offset in range(0, total, batch_size):
            run_rows: list[dict[str, Any]] = []
            history_rows: list[dict[str, Any]] = []
            for i in range(offset, min(offset + batch_size, total)):
                experiment_id = slots[i]
                created_at = start + timedelta(milliseconds=i)
                run_id = str(uuid.uuid4())
                run_rows.append(
                    _run_values(
                        run_id,
                        experiment_id,
                        i,
                        pipeline.pipeline_id,
                        version.pipeline_version_id,
                        version.spec_digest,
                        created_at,
                    )
                )
                history_rows.append(
                    {"run_id": run_id, "state": "PENDING", "update_time": created_at, "error": None}
                )
                last_by_experiment[experiment_id] = created_at
                if experiment_id == measured.experiment_id:
                    if measured_index % sample_every == 0:
                        sample.append(run_id)
                    measured_index += 1
            with db.write() as session:
                session.execute(insert(RunRow), run_rows)
                session.execute(insert(RunStateRow), history_rows)
            if not quiet and (offset // batch_size) % 10 == 9:
                print(f"  seeded {offset + len(run_rows):,}/{total:,} runs", file=sys.stderr)
        with db.write() as session:
            for experiment_id, last in last_by_experiment.items():
                session.execute(
                    update(ExperimentRow)
                    .where(ExperimentRow.experiment_id == experiment_id)
                    .values(last_run_created_at=last)
                )
                _recount_if_counted(session, experiment_id)
        if db.is_sqlite:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")  # what a long-running SQLite DB would have
        else:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        db.dispose()
    return SeedResult(
        database_url=database_url,
        experiment_id=measured.experiment_id,
        other_experiment_ids=[o.experiment_id for o in others],
        pipeline_id=pipeline.pipeline_id,
        pipeline_version_id=version.pipeline_version_id,
        runs_in_experiment=runs,
        runs_total=total,
        seconds=time.perf_counter() - started,
        sample_run_ids=sample,
    )


def find_seeded(database_url: str, sample_size: int = 2_000) -> SeedResult | None:
    """The layout a previous ``seed`` left in this database, or None if it is not seeded."""
    from sqlalchemy import create_engine, func, select

    from api_server.storage import normalize_url
    from api_server.storage.rows import ExperimentRow, PipelineRow, PipelineVersionRow, RunRow

    engine = create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            try:
                measured = conn.execute(
                    select(ExperimentRow.experiment_id).where(
                        ExperimentRow.display_name == "bench-measured"
                    )
                ).scalar_one_or_none()
            except Exception:
                return None  # not migrated
            if measured is None:
                return None
            others = list(
                conn.execute(
                    select(ExperimentRow.experiment_id).where(
                        ExperimentRow.display_name.like("bench-other-%")
                    )
                ).scalars()
            )
            pipeline_id = conn.execute(
                select(PipelineRow.pipeline_id).where(PipelineRow.name == "bench-minimal")
            ).scalar_one()
            version_id = conn.execute(
                select(PipelineVersionRow.pipeline_version_id).where(
                    PipelineVersionRow.pipeline_id == pipeline_id
                )
            ).scalar_one()
            in_experiment = conn.execute(
                select(func.count()).where(RunRow.experiment_id == measured)
            ).scalar_one()
            total = conn.execute(select(func.count()).select_from(RunRow)).scalar_one()
            ids = list(
                conn.execute(
                    select(RunRow.run_id)
                    .where(
                        RunRow.experiment_id == measured, RunRow.display_name.like("bench-run-%")
                    )
                    .order_by(RunRow.created_at)
                ).scalars()
            )
    finally:
        engine.dispose()
    step = max(1, len(ids) // sample_size)
    return SeedResult(
        database_url=database_url,
        experiment_id=measured,
        other_experiment_ids=others,
        pipeline_id=pipeline_id,
        pipeline_version_id=version_id,
        runs_in_experiment=int(in_experiment),
        runs_total=int(total),
        seconds=0.0,
        sample_run_ids=ids[::step],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/headrace-bench-seed"))
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the measured experiment")
    parser.add_argument("--other-experiments", type=int, default=4)
    parser.add_argument("--other-runs", type=int, default=5_000, help="runs per other experiment")
    parser.add_argument("--batch-size", type=int, default=2_000)
    args = parser.parse_args(argv)
    result = seed(
        args.database_url,
        args.data_dir,
        runs=args.runs,
        other_experiments=args.other_experiments,
        other_runs=args.other_runs,
        batch_size=args.batch_size,
    )
    summary = asdict(result)
    summary["sample_run_ids"] = f"{len(result.sample_run_ids)} ids"
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
