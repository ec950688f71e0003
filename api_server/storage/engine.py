"""Engines, sessions and the unit of work, with every dialect difference kept here.

Concurrency model: synchronous SQLAlchemy sessions, called from FastAPI's thread pool (and
from gRPC's thread pool later). One process owns a SQLite file, so its writers are
serialised by an in-process lock and ``BEGIN IMMEDIATE``: concurrent clients queue for a few
milliseconds instead of failing with "database is locked". WAL lets readers run beside the
writer. MySQL/MariaDB and PostgreSQL use ordinary pooled transactions.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from domain.errors import AlreadyExists, Unavailable

logger = logging.getLogger(__name__)

# Which BEGIN a SQLite transaction on this thread issues: IMMEDIATE inside write(), so the
# write lock is taken at BEGIN and never upgraded mid-transaction (the source of SQLITE_BUSY).
_sqlite_begin = threading.local()


def normalize_url(url: str | URL) -> URL:
    """Pick the drivers we ship when the URL names only the database kind."""
    parsed = make_url(url)
    aliases = {
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "mysql": "mysql+pymysql",
        "mariadb": "mariadb+pymysql",
    }
    if parsed.drivername in aliases:
        parsed = parsed.set(drivername=aliases[parsed.drivername])
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
    return parsed


def build_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    busy_timeout_ms: int = 30_000,
    pool_pre_ping: bool = False,
) -> Engine:
    """Create an engine with the per-dialect settings Headrace relies on."""
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"future": True}
    if backend == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=pool_pre_ping)
    if backend in ("mysql", "mariadb"):
        kwargs["isolation_level"] = "READ COMMITTED"
        kwargs["pool_recycle"] = 3600
        engine = create_engine(parsed, **kwargs)
        _configure_mysql(engine)
        return engine
    return create_engine(parsed, **kwargs)


def _configure_mysql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # JSON_ARRAYAGG (dialects.json_rows) silently cuts its result at group_concat_max_len
        # (1 MiB by default): lift the limit, so a long history is never truncated.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION group_concat_max_len = 4294967295")


def _bind_none(_: None) -> None:
    return None


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    # pysqlite looks up an adapter for every bound value that is not an int, float or str;
    # for None it finds none the slow way (two failed attribute look-ups, each raising and
    # clearing an AttributeError): ~0.4 us per NULL, a dozen per task on status writes.
    # An adapter registered for None is found at once and binds NULL all the same. (It is
    # process-wide: None binds NULL for every pysqlite user, as it did before.)
    sqlite3.register_adapter(type(None), _bind_none)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit transactions get in the way).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = getattr(_sqlite_begin, "mode", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def translate_db_error(exc: DBAPIError) -> Exception:
    """Turn driver errors a client can act on into domain errors; others stay as they are."""
    if isinstance(exc, IntegrityError):
        return AlreadyExists("a resource with the same unique name already exists")
    if isinstance(exc, OperationalError):
        return Unavailable("the database is unavailable or busy; retry the request")
    return exc


def _autocommit_twin(engine: Engine) -> Engine:
    """A second engine on the same database, with a pool of the same size, whose
    connections are put in autocommit once, when they connect: a read then skips switching
    autocommit on at checkout and off again at return."""
    pool = cast(QueuePool, engine.pool)
    return create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_size=pool.size(),
        max_overflow=pool._max_overflow,
        pool_pre_ping=pool._pre_ping,
    )


class Database:
    """Owns the engine and hands out sessions: ``read()`` and ``write()`` units of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.backend = engine.url.get_backend_name()
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # PostgreSQL reads run in autocommit. Under READ COMMITTED each statement sees a
        # snapshot of its own either way, and a read then costs no BEGIN and ROLLBACK round
        # trips (0.6 ms of a 1.5 ms get-run on the benchmark VM). Their connections come from
        # a pool of their own, in autocommit from the start (0.03-0.04 ms less per read than
        # switching a shared pool's connection each time). Not MySQL: pymysql switches
        # autocommit with a statement of its own, which costs what it saves.
        read_engine = _autocommit_twin(engine) if self.backend == "postgresql" else engine
        self._read_engine = read_engine
        self._read_sessions = sessionmaker(read_engine, expire_on_commit=False, autoflush=False)
        self._write_lock: threading.Lock | None = (
            threading.Lock() if self.backend == "sqlite" else None
        )

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine this database sends statements through (writes, then reads when
        reads have one of their own)."""
        if self._read_engine is self.engine:
            return (self.engine,)
        return (self.engine, self._read_engine)

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed (on PostgreSQL it runs in
        autocommit, so it must not write)."""
        session = self._read_sessions()
        try:
            yield session
        except DBAPIError as exc:
            raise translate_db_error(exc) from exc
        finally:
            session.close()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A bare connection for a read that needs no ORM, under the same rules as
        ``read()``: without a Session's bookkeeping, which cost a tenth of a millisecond of
        a get-run on PostgreSQL."""
        try:
            with self._read_engine.connect() as connection:
                yield connection
        except DBAPIError as exc:
            raise translate_db_error(exc) from exc

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed when the block ends, rolled back if it raises."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        with lock:
            session = self._sessions()
            _sqlite_begin.mode = "IMMEDIATE"
            try:
                yield session
                session.commit()
            except DBAPIError as exc:
                session.rollback()
                raise translate_db_error(exc) from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                _sqlite_begin.mode = "DEFERRED"
                session.close()

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """``write()`` without the ORM: a connection in a transaction, committed when the
        block ends, rolled back if it raises. For the hottest writers (a run backend's task
        status), where a Session's bookkeeping costs as much as their statements."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        with lock:
            _sqlite_begin.mode = "IMMEDIATE"
            try:
                with self.engine.begin() as connection:
                    yield connection
            except DBAPIError as exc:
                raise translate_db_error(exc) from exc
            finally:
                _sqlite_begin.mode = "DEFERRED"

    def dispose(self) -> None:
        if self._read_engine is not self.engine:
            self._read_engine.dispose()
        self.engine.dispose()
