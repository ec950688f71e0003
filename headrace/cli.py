"""``headrace`` — serve, api-server, metadata-store, migrate."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from domain.logging_setup import configure_logging
from domain.settings import Settings

if TYPE_CHECKING:
    from api_server.storage import Database
    from metadata_store import RunningServer

logger = logging.getLogger("headrace")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", help="folder for the SQLite database and artifacts (default ./.headrace)"
    )
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL: sqlite:///..., mysql+pymysql://..., postgresql+psycopg://...",
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--log-format", choices=["json", "text"])


def _add_server(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="REST port (default 8888; 0 picks a free one)")
    parser.add_argument(
        "--grpc-port", type=int, help="gRPC port (default 8887; 0 picks a free one)"
    )
    parser.add_argument("--max-upload-bytes", type=int, help="largest pipeline upload accepted")
    parser.add_argument(
        "--schedule-timezone", help="IANA zone cron schedules are read in (default UTC)"
    )


def _add_metadata(parser: argparse.ArgumentParser, *, port: bool = True) -> None:
    if port:
        parser.add_argument(
            "--metadata-grpc-port",
            type=int,
            help="metadata store (ML-Metadata gRPC) port (default 8080; 0 picks a free one)",
        )
    parser.add_argument(
        "--metadata-database-url", help="database of the metadata store (default: the main one)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headrace", description="Kubeflow Pipelines v2 control plane"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run everything in one process (embedded mode)")
    _add_server(serve)
    serve.add_argument(
        "--no-migrate", action="store_true", help="do not migrate the database on start"
    )
    _add_metadata(serve)

    api = commands.add_parser(
        "api-server", help="run the API server alone (refuses a stale schema)"
    )
    _add_server(api)

    metadata = commands.add_parser(
        "metadata-store", help="run the metadata store (ML-Metadata gRPC) alone"
    )
    _add_common(metadata)
    _add_metadata(metadata)
    metadata.add_argument("--host", help="address to bind (default 127.0.0.1)")

    migrate = commands.add_parser("migrate", help="upgrade or downgrade the database schema")
    _add_common(migrate)
    _add_metadata(migrate, port=False)
    action = migrate.add_subparsers(dest="action")
    up = action.add_parser("upgrade", help="upgrade to a revision (default head)")
    up.add_argument("revision", nargs="?", default="head")
    down = action.add_parser("downgrade", help="downgrade to a revision (base removes everything)")
    down.add_argument("revision")
    action.add_parser("current", help="print the current revision")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Env vars (HEADRACE_*) first, then any flag the user gave."""
    overrides: dict[str, Any] = {}
    for field in (
        "host",
        "port",
        "grpc_port",
        "data_dir",
        "database_url",
        "log_level",
        "log_format",
        "max_upload_bytes",
        "metadata_grpc_port",
        "metadata_database_url",
        "schedule_timezone",
    ):
        value = getattr(args, field, None)
        if value is not None:
            overrides[field] = value
    if getattr(args, "no_migrate", False):
        overrides["migrate_on_start"] = False
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except ValidationError as exc:
        print(f"headrace: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        return run_migrate(settings, args)
    if args.command == "metadata-store":
        return run_metadata_store(settings)
    return run_server(settings, embedded=args.command == "serve")


def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    import migrations

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    action = args.action or "upgrade"
    # A metadata store with a database of its own gets the same schema history there.
    urls = list(dict.fromkeys([url, settings.effective_metadata_database_url]))
    for target in urls:
        if action == "upgrade":
            migrations.upgrade(target, getattr(args, "revision", "head"))
        elif action == "downgrade":
            migrations.downgrade(target, args.revision)
    from api_server.storage import build_engine

    engine = build_engine(url)
    try:
        print(f"current revision: {migrations.current_revision(engine) or 'base (empty)'}")
    finally:
        engine.dispose()
    return 0


def run_server(settings: Settings, *, embedded: bool) -> int:
    import uvicorn

    import migrations
    from api_server import build_app, build_database, build_services
    from api_server.grpc_api.server import build_grpc_server
    from headrace.scheduling import build_scheduler

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.artifact_dir.mkdir(parents=True, exist_ok=True)
    db = build_database(settings)
    if embedded and settings.migrate_on_start:
        migrations.upgrade(settings.effective_database_url)
    elif migrations.pending_revisions(db.engine):
        logger.error(
            "the database schema is not at the current revision; run `headrace migrate` first",
            extra={"database": db.engine.url.render_as_string(hide_password=True)},
        )
        return 3
    metadata = None
    if embedded:  # api-server replicas leave lineage to `headrace metadata-store`
        metadata = start_metadata_store(settings, db, migrate=settings.migrate_on_start)
        if metadata is None:
            return 3
    if embedded and settings.run_engine == "embedded":
        from headrace.wiring import build_embedded

        backend, reader = build_embedded(settings, db, metadata)
        services = build_services(settings, db, backend, reader)
    else:
        services = build_services(settings, db)
    grpc_server = build_grpc_server(
        services, settings.host, settings.grpc_port, settings.grpc_max_workers
    )
    # Embedded mode runs the schedule loop in-process; on Kubernetes a controller does.
    background = [build_scheduler(settings, services)] if embedded else []
    app = build_app(settings, services, grpc_server, background)

    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    port = sock.getsockname()[1]
    logger.info(
        "headrace listening",
        extra={
            "url": f"http://{settings.host}:{port}",
            "port": port,
            "grpc_port": grpc_server.port,
            "database": db.engine.url.render_as_string(hide_password=True),
            "mode": "embedded" if embedded else "api-server",
        },
    )
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if metadata is not None:
            metadata.stop()
    return 0


def start_metadata_store(
    settings: Settings, db: Database, *, migrate: bool
) -> RunningServer | None:
    """Serve the metadata store on ``settings.metadata_grpc_port`` over ``db`` or its own
    database; None (after logging why) when that database's schema is stale."""
    import migrations
    from api_server.storage import Database, build_engine
    from metadata_store import MetadataStore, start_server

    url = settings.effective_metadata_database_url
    store_db = db
    if url != settings.effective_database_url:
        if migrate:
            migrations.upgrade(url)
        store_db = Database(build_engine(url, busy_timeout_ms=settings.db_busy_timeout_ms))
    if migrations.pending_revisions(store_db.engine):
        logger.error(
            "the metadata store's schema is not at the current revision; run `headrace migrate`",
            extra={"database": store_db.engine.url.render_as_string(hide_password=True)},
        )
        return None
    return start_server(
        MetadataStore(store_db), host=settings.host, port=settings.metadata_grpc_port
    )


def run_metadata_store(settings: Settings) -> int:
    """``headrace metadata-store``: the ML-Metadata gRPC service alone, until SIGINT/SIGTERM."""
    from api_server import build_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = build_database(settings)
    # Handlers first: a SIGTERM arriving just after "listening" is logged must stop the
    # store cleanly, not kill it with the default action.
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    server = start_metadata_store(settings, db, migrate=False)
    if server is None:
        return 3
    while not stopping.wait(timeout=1.0):  # a timed wait: signals are always seen promptly
        pass
    logger.info("metadata store stopping")
    server.stop()
    db.dispose()
    return 0
