"""The metadata store: ML-Metadata's operations over SQLAlchemy, on ML-Metadata's messages.

The store speaks the generated protobuf messages directly, so the gRPC service only unwraps
requests and the lineage recorder builds the same messages a remote client would send.

Transactions come from a unit of work handed in by the composition root (anything with
``read()`` and ``write()`` context managers yielding a Session, like the API server's
``Database``): on SQLite its writers are serialised and use ``BEGIN IMMEDIATE``. Every
operation is one transaction, so ``PutExecution`` and ``PutLineageSubgraph`` are atomic.
Statements are Core, the hot ones built once, executed in bulk (one INSERT for many nodes,
one for all their properties): a bulk ``PutArtifacts`` costs a handful of round trips, not
one per artifact.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Session

from domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from domain.schema import in_chunks

from .filters import NodeTables, matching_ids
from .proto import metadata_store_pb2 as pb
from .rows import (
    ARTIFACT_TYPE,
    CONTEXT_TYPE,
    EXECUTION_TYPE,
    ArtifactPropertyRow,
    ArtifactRow,
    AssociationRow,
    AttributionRow,
    ContextPropertyRow,
    ContextRow,
    EventRow,
    ExecutionPropertyRow,
    ExecutionRow,
    ParentContextRow,
    TypePropertyRow,
    TypeRow,
)
from .values import fill_value, property_row, value_kind

logger = logging.getLogger(__name__)

T = TypeVar("T")

TYPES: Table = TypeRow.__table__  # type: ignore[assignment]
TYPE_PROPERTIES: Table = TypePropertyRow.__table__  # type: ignore[assignment]
EVENTS: Table = EventRow.__table__  # type: ignore[assignment]
ATTRIBUTIONS: Table = AttributionRow.__table__  # type: ignore[assignment]
ASSOCIATIONS: Table = AssociationRow.__table__  # type: ignore[assignment]
PARENT_CONTEXTS: Table = ParentContextRow.__table__  # type: ignore[assignment]

MAX_PAGE_SIZE = 100  # as ML-Metadata: larger pages are cut to this size
DEFAULT_MAX_HOPS = 20
INPUT_EVENTS = (pb.Event.DECLARED_INPUT, pb.Event.INPUT, pb.Event.INTERNAL_INPUT)
OUTPUT_EVENTS = (
    pb.Event.DECLARED_OUTPUT,
    pb.Event.OUTPUT,
    pb.Event.INTERNAL_OUTPUT,
    pb.Event.PENDING_OUTPUT,
)


class UnitOfWork(Protocol):
    """Where sessions come from: ``read()`` for queries, ``write()`` for one transaction."""

    def read(self) -> AbstractContextManager[Session]: ...

    def write(self) -> AbstractContextManager[Session]: ...


@dataclass(frozen=True)
class NodeKind:
    """What differs between artifacts, executions and contexts."""

    name: str
    table: Table
    properties: Table
    type_kind: int
    message: Any  # the pb class
    type_message: Any
    columns: tuple[str, ...]  # columns copied as they are between row and message

    @property
    def filter_tables(self) -> NodeTables:
        return NodeTables(self.name, self.table, self.properties, self.type_kind)


ARTIFACTS = NodeKind(
    "artifact",
    ArtifactRow.__table__,  # type: ignore[arg-type]
    ArtifactPropertyRow.__table__,  # type: ignore[arg-type]
    ARTIFACT_TYPE,
    pb.Artifact,
    pb.ArtifactType,
    ("name", "uri", "external_id", "state"),
)
EXECUTIONS = NodeKind(
    "execution",
    ExecutionRow.__table__,  # type: ignore[arg-type]
    ExecutionPropertyRow.__table__,  # type: ignore[arg-type]
    EXECUTION_TYPE,
    pb.Execution,
    pb.ExecutionType,
    ("name", "external_id", "last_known_state"),
)
CONTEXTS = NodeKind(
    "context",
    ContextRow.__table__,  # type: ignore[arg-type]
    ContextPropertyRow.__table__,  # type: ignore[arg-type]
    CONTEXT_TYPE,
    pb.Context,
    pb.ContextType,
    ("name", "external_id"),
)
KINDS_BY_TYPE_KIND = {kind.type_kind: kind for kind in (ARTIFACTS, EXECUTIONS, CONTEXTS)}

# Hot statements, built once: building a statement cost more than running it.
_INSERT_RETURNING = {
    k.name: insert(k.table).returning(k.table.c.id) for k in KINDS_BY_TYPE_KIND.values()
}
_INSERT_MANY_RETURNING = {
    k.name: insert(k.table).returning(k.table.c.id, sort_by_parameter_order=True)
    for k in KINDS_BY_TYPE_KIND.values()
}
_INSERT = {
    table.name: insert(table)
    for table in (
        *(t for k in KINDS_BY_TYPE_KIND.values() for t in (k.table, k.properties)),
        EVENTS,
        ATTRIBUTIONS,
        ASSOCIATIONS,
        PARENT_CONTEXTS,
    )
}
_MAX_ID = {k.name: select(func.max(k.table.c.id)) for k in KINDS_BY_TYPE_KIND.values()}
_INSERT_SKIPPING_STORED = {
    k.name: sqlite.insert(k.table).on_conflict_do_nothing(index_elements=[k.table.c.external_id])
    for k in KINDS_BY_TYPE_KIND.values()
}
_FIND_CONTEXT = select(CONTEXTS.table.c.id).where(
    CONTEXTS.table.c.type_id == bindparam("type_id"), CONTEXTS.table.c.name == bindparam("name")
)
_FIND_ARTIFACT_BY_EXTERNAL_ID = select(ARTIFACTS.table.c.id).where(
    ARTIFACTS.table.c.external_id == bindparam("external_id")
)
_INSERT_IGNORING: dict[tuple[str, str], Any] = {}
_IDS: Any = bindparam("ids", expanding=True)
_ROWS_BY_IDS = {
    k.name: select(k.table).where(k.table.c.id.in_(_IDS)) for k in KINDS_BY_TYPE_KIND.values()
}
_PROPERTIES_BY_IDS = {
    k.name: select(k.properties).where(k.properties.c.node_id.in_(_IDS))
    for k in KINDS_BY_TYPE_KIND.values()
}
_TYPE_NAMES = select(TYPES.c.id, TYPES.c.name).where(TYPES.c.id.in_(_IDS))
_TYPES_BY_IDS = select(TYPES).where(TYPES.c.id.in_(_IDS)).order_by(TYPES.c.id)
_TYPE_PROPERTIES_BY_IDS = select(
    TYPE_PROPERTIES.c.type_id, TYPE_PROPERTIES.c.name, TYPE_PROPERTIES.c.data_type
).where(TYPE_PROPERTIES.c.type_id.in_(_IDS))
_EVENTS_BY = {
    name: select(EVENTS).where(EVENTS.c[name].in_(_IDS)).order_by(EVENTS.c.id)
    for name in ("artifact_id", "execution_id")
}
_NEIGHBOURS = {
    (source, target): select(EVENTS.c[target])
    .where(EVENTS.c[source].in_(_IDS), EVENTS.c.type.in_(bindparam("types", expanding=True)))
    .distinct()
    for source, target in (("artifact_id", "execution_id"), ("execution_id", "artifact_id"))
}
_CONTEXT_PAIRS = {
    table.name: select(table.c.context_id, table.c[column]).where(table.c[column].in_(_IDS))
    for table, column in ((ATTRIBUTIONS, "artifact_id"), (ASSOCIATIONS, "execution_id"))
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def uri_digest(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()


# Hot statements as the driver's SQL: (statement key, dialect) -> (SQL, parameter order or
# None for a named paramstyle).
_DRIVER_SQL: dict[tuple[Any, ...], tuple[str, tuple[str, ...] | None]] = {}


def _driver_sql(
    conn: Connection, key: tuple[Any, ...], build: Callable[[], Any], keys: Sequence[str]
) -> tuple[str, tuple[str, ...] | None]:
    """The SQL of the statement ``build()`` makes, compiled once per ``key`` and dialect."""
    cache_key = (*key, conn.dialect.name)
    prepared = _DRIVER_SQL.get(cache_key)
    if prepared is None:
        compiled = build().compile(dialect=conn.dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        prepared = _DRIVER_SQL[cache_key] = (compiled.string, order)
    return prepared


def _executemany(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> CursorResult[Any]:
    """``conn.execute(statement, rows)`` for a prebuilt INSERT whose rows hold plain values
    (ints, floats, text, bytes, booleans, None), every row with the first one's keys.

    The statement is compiled once per dialect and keys, then handed to the driver's
    executemany as it is: SQLAlchemy's per-row parameter processing, which these types do
    not need, cost about 3 us a row on the benchmark VM (64 property rows: 510 -> 300 us).
    """
    keys = tuple(rows[0])
    sql, order = _driver_sql(conn, (statement, keys), lambda: statement, keys)
    if order is None:
        return conn.exec_driver_sql(sql, rows)
    pick = itemgetter(*order)
    return conn.exec_driver_sql(
        sql, [pick(row) for row in rows] if len(order) > 1 else [(pick(row),) for row in rows]
    )


def insert_many(
    conn: Connection, table: Table, rows: list[dict[str, Any]], *, ignoring_duplicates: bool = False
) -> None:
    """INSERT ``rows`` of plain values, every row with the first one's keys; with
    ``ignoring_duplicates``, rows whose key exists are skipped (links are idempotent).

    SQLite and MariaDB: the driver's executemany (``_executemany``). PostgreSQL: one
    ``INSERT ... SELECT unnest(:column_array), ...``, a statement of fixed text with an array
    per column, as psycopg's executemany cost about 20 us a row (64 property rows: 1.4 ->
    0.6 ms of CPU on the benchmark VM)."""
    if not rows:
        return
    backend = conn.dialect.name
    if backend == "postgresql":
        keys = tuple(rows[0])
        sql, _ = _driver_sql(
            conn,
            ("insert_unnest", table.name, keys, ignoring_duplicates),
            partial(_unnest_insert, table, keys, ignoring_duplicates),
            (),
        )
        conn.exec_driver_sql(sql, _column_arrays(rows, keys))
        return
    statement = _INSERT_IGNORING.get((backend, table.name)) if ignoring_duplicates else None
    if ignoring_duplicates and statement is None:
        if backend == "sqlite":
            statement = sqlite.insert(table).on_conflict_do_nothing()
        else:
            statement = mysql.insert(table).prefix_with("IGNORE")
        _INSERT_IGNORING[(backend, table.name)] = statement
    _executemany(conn, statement if statement is not None else _INSERT[table.name], rows)


def _unnest_insert(table: Table, keys: tuple[str, ...], ignoring_duplicates: bool) -> Any:
    """PostgreSQL: ``INSERT INTO table (keys) SELECT unnest(:k::type[]), ...`` (set-returning
    functions in one SELECT list advance together: row i takes element i of each array)."""
    arrays = [func.unnest(bindparam(k, type_=postgresql.ARRAY(table.c[k].type))) for k in keys]
    statement = postgresql.insert(table).from_select(list(keys), select(*arrays))
    return statement.on_conflict_do_nothing() if ignoring_duplicates else statement


def _column_arrays(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, list[Any]]:
    return {k: [row[k] for row in rows] for k in keys}


def ids_by_external_id(
    conn: Connection, kind: NodeKind, external_ids: Sequence[str]
) -> dict[str, int]:
    """``{external_id: id}`` of the stored nodes of ``kind`` among ``external_ids``.

    One statement per IN list, compiled once per length and dialect: SQLAlchemy's expanding
    IN re-renders the SQL on every call (57 -> 27 us for 16 ids on the benchmark VM)."""
    table = kind.table
    found: dict[str, int] = {}
    for chunk in in_chunks(external_ids):
        names = [f"v{i}" for i in range(len(chunk))]
        sql, order = _driver_sql(
            conn,
            ("ids_by_external_id", kind.name, len(chunk)),
            partial(_select_by_external_ids, table, names),
            (),
        )
        params: Any = tuple(chunk) if order is not None else dict(zip(names, chunk, strict=True))
        found.update((str(e), int(i)) for i, e in conn.exec_driver_sql(sql, params))
    return found


def _select_by_external_ids(table: Table, names: list[str]) -> Any:
    """``SELECT id, external_id FROM table WHERE external_id IN (:names...)``."""
    return select(table.c.id, table.c.external_id).where(
        table.c.external_id.in_([bindparam(n) for n in names])
    )


def _sqlite_insert_returning_unless_stored(kind: NodeKind) -> Any:
    """SQLite: one node's ``INSERT ... ON CONFLICT (external_id) DO NOTHING RETURNING id``."""
    return _INSERT_SKIPPING_STORED[kind.name].returning(kind.table.c.id)


def _unnest_insert_returning_unless_stored(table: Table, keys: tuple[str, ...]) -> Any:
    """PostgreSQL: ``_unnest_insert`` skipping the rows whose external id is stored,
    returning ``id, external_id`` of the others."""
    return (
        _unnest_insert(table, keys, False)
        .on_conflict_do_nothing(index_elements=[table.c.external_id])
        .returning(table.c.id, table.c.external_id)
    )


def insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows, skipping those whose key exists (links are idempotent)."""
    insert_many(session.connection(), table, rows, ignoring_duplicates=True)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_page_token: str | None


class MetadataStore:
    """ML-Metadata's store operations. Every public method is one transaction."""

    def __init__(self, database: UnitOfWork) -> None:
        self.db = database
        # type id -> (kind, {property: data type}); see _declared_properties.
        self._type_cache: dict[int, tuple[int, dict[str, int]]] = {}
        self._type_name_cache: dict[int, str] = {}
        self._local = threading.local()

    # ------------------------------------------------------------------ types
    def put_type(
        self,
        type_kind: int,
        message: Any,
        *,
        can_add_fields: bool = False,
        can_omit_fields: bool = False,
    ) -> int:
        return self.put_types(
            [(type_kind, message)], can_add_fields=can_add_fields, can_omit_fields=can_omit_fields
        )[0]

    def put_types(
        self,
        types: Sequence[tuple[int, Any]],
        *,
        can_add_fields: bool = False,
        can_omit_fields: bool = False,
    ) -> list[int]:
        """Create types, or check them against the stored ones (adding fields if allowed).

        Two writers creating the same type at once: the loser's unique-key violation is
        retried once, and then finds the winner's type.
        """

        def work(session: Session) -> list[int]:
            return [
                self._put_type(session, kind, message, can_add_fields, can_omit_fields)
                for kind, message in types
            ]

        return self._write(work, retry=True)

    def _put_type(
        self, session: Session, kind: int, message: Any, can_add: bool, can_omit: bool
    ) -> int:
        if not message.name:
            raise InvalidArgument("type name must be set")
        for prop, data_type in message.properties.items():
            if data_type == pb.UNKNOWN:
                raise InvalidArgument(
                    f"property {prop!r} of type {message.name!r} has data type UNKNOWN"
                )
        version = message.version if message.HasField("version") else ""
        found = session.execute(
            select(TYPES.c.id).where(
                TYPES.c.kind == kind, TYPES.c.name == message.name, TYPES.c.version == version
            )
        ).scalar()
        if found is None:
            values: dict[str, Any] = {
                "kind": kind,
                "name": message.name,
                "version": version,
                "description": message.description if message.HasField("description") else None,
                "external_id": message.external_id or None,
                "base_type": message.base_type if message.HasField("base_type") else None,
            }
            if kind == EXECUTION_TYPE:
                for field in ("input_type", "output_type"):
                    if message.HasField(field):
                        values[field] = getattr(message, field).SerializeToString()
            type_id = _insert_one(session, TYPES, values)
            self._add_type_properties(session, type_id, dict(message.properties))
            return type_id
        type_id = int(found)
        stored = dict(
            session.execute(
                select(TYPE_PROPERTIES.c.name, TYPE_PROPERTIES.c.data_type).where(
                    TYPE_PROPERTIES.c.type_id == type_id
                )
            ).all()
        )
        for prop, data_type in message.properties.items():
            if prop in stored and stored[prop] != data_type:
                raise AlreadyExists(
                    f"type {message.name!r} exists with property {prop!r} of another data type"
                )
        added = {p: t for p, t in message.properties.items() if p not in stored}
        if added and not can_add:
            raise AlreadyExists(
                f"type {message.name!r} exists without properties {sorted(added)}; "
                "set can_add_fields to add them"
            )
        omitted = sorted(p for p in stored if p not in message.properties)
        if omitted and not can_omit:
            raise AlreadyExists(
                f"type {message.name!r} exists with properties {omitted} the request omits; "
                "set can_omit_fields to allow it"
            )
        self._add_type_properties(session, type_id, added)
        return type_id

    def _add_type_properties(self, session: Session, type_id: int, props: dict[str, int]) -> None:
        if props:
            session.execute(
                insert(TYPE_PROPERTIES),
                [{"type_id": type_id, "name": n, "data_type": t} for n, t in props.items()],
            )

    def get_type(self, type_kind: int, name: str, version: str = "") -> Any | None:
        with self.db.read() as session:
            found = self._types(
                session,
                and_(TYPES.c.kind == type_kind, TYPES.c.name == name, TYPES.c.version == version),
            )
        return found[0] if found else None

    def get_types(self, type_kind: int) -> list[Any]:
        with self.db.read() as session:
            return self._types(session, TYPES.c.kind == type_kind)

    def get_types_by_id(self, type_kind: int, ids: Iterable[int]) -> list[Any]:
        ids = list(ids)
        with self.db.read() as session:
            return self._types(session, and_(TYPES.c.kind == type_kind, TYPES.c.id.in_(ids)))

    def get_types_by_external_id(self, type_kind: int, external_ids: Iterable[str]) -> list[Any]:
        external = list(external_ids)
        with self.db.read() as session:
            return self._types(
                session, and_(TYPES.c.kind == type_kind, TYPES.c.external_id.in_(external))
            )

    def _types(
        self, session: Session, condition: Any = None, *, type_ids: Sequence[int] = ()
    ) -> list[Any]:
        """Type messages matching ``condition``, or those with ``type_ids``, by id."""
        conn = session.connection()
        if condition is not None:
            rows = conn.execute(select(TYPES).where(condition).order_by(TYPES.c.id)).all()
        else:
            rows = [
                r
                for c in in_chunks(type_ids)
                for r in conn.execute(_TYPES_BY_IDS, {"ids": list(c)})
            ]
        if not rows:
            return []
        props: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for chunk in in_chunks([row.id for row in rows]):
            for type_id, name, data_type in conn.execute(
                _TYPE_PROPERTIES_BY_IDS, {"ids": list(chunk)}
            ):
                props[type_id].append((name, data_type))
        out = []
        for row in rows:
            message = KINDS_BY_TYPE_KIND[row.kind].type_message(id=row.id, name=row.name)
            if row.version:
                message.version = row.version
            if row.description is not None:
                message.description = row.description
            if row.external_id is not None:
                message.external_id = row.external_id
            if row.base_type is not None:
                message.base_type = row.base_type
            if row.input_type is not None:
                message.input_type.ParseFromString(row.input_type)
            if row.output_type is not None:
                message.output_type.ParseFromString(row.output_type)
            for name, data_type in props[row.id]:
                message.properties[name] = data_type
            out.append(message)
        return out

    # ------------------------------------------------------------------ node writes
    def put_nodes(
        self,
        kind: NodeKind,
        messages: Sequence[Any],
        *,
        mask: Sequence[str] = (),
        check_update_time: bool = False,
    ) -> list[int]:
        """Insert nodes without an id, update those with one; ids in request order.

        With a ``mask``, updates touch only the named fields (``uri``, ``properties.x``,
        ``custom_properties``...); inserts ignore it, as in ML-Metadata.
        """
        return self._write(
            lambda session: self._put_nodes(
                session, kind, messages, mask=mask, check_update_time=check_update_time
            )
        )

    def _put_nodes(
        self,
        session: Session,
        kind: NodeKind,
        messages: Sequence[Any],
        *,
        mask: Sequence[str] = (),
        check_update_time: bool = False,
    ) -> list[int]:
        conn = session.connection()
        ids: list[int | None] = [m.id if m.HasField("id") else None for m in messages]
        now = now_ms()
        new_positions = [i for i, node_id in enumerate(ids) if node_id is None]
        if new_positions:
            created = self._insert_nodes(conn, kind, [messages[p] for p in new_positions], now)
            for position, node_id in zip(new_positions, created, strict=True):
                ids[position] = node_id
        updated_positions = [i for i, m in enumerate(messages) if m.HasField("id")]
        if updated_positions:
            existing = self._existing_rows(
                session, kind, [messages[p].id for p in updated_positions]
            )
            type_ids = {row.type_id for row in existing.values()}
            declared = self._declared_properties(conn, kind, type_ids)
            for position in updated_positions:
                message = messages[position]
                stored = existing.get(message.id)
                if stored is None:
                    raise NotFound(f"{kind.name}s[{position}]: no {kind.name} with id {message.id}")
                self._update_node(
                    session, kind, message, stored, position, declared, mask, now, check_update_time
                )
        return [int(i) for i in ids if i is not None]

    def _insert_nodes(
        self, conn: Connection, kind: NodeKind, messages: Sequence[Any], now: int
    ) -> list[int]:
        """INSERT new nodes and their properties: two statements however many nodes."""
        type_ids = {m.type_id for m in messages if m.HasField("type_id")}
        declared = self._declared_properties(conn, kind, type_ids)
        rows = []
        for position, message in enumerate(messages):
            if not message.HasField("type_id"):
                raise InvalidArgument(f"{kind.name}s[{position}]: type_id must be set")
            type_props = declared.get(message.type_id)
            if type_props is None:
                raise InvalidArgument(
                    f"{kind.name}s[{position}]: type_id {message.type_id} is not an "
                    f"{kind.name} type"
                )
            try:
                self._check_node(kind, message, position, type_props)
            except InvalidArgument:
                # The cached declaration may predate a can_add_fields; look again, then decide.
                declared.update(self._declared_properties(conn, kind, {message.type_id}, True))
                self._check_node(kind, message, position, declared[message.type_id])
            row = self._row_values(kind, message)
            row["type_id"] = message.type_id
            row["create_time_since_epoch"] = now
            row["last_update_time_since_epoch"] = now
            rows.append(row)
        properties = [
            self._property_rows(0, m) if m.properties or m.custom_properties else []
            for m in messages
        ]
        return self._insert_rows(conn, kind, rows, properties)

    def _insert_rows(
        self,
        conn: Connection,
        kind: NodeKind,
        rows: list[dict[str, Any]],
        properties: Sequence[list[dict[str, Any]]],
    ) -> list[int]:
        """INSERT checked nodes: ``rows`` of column values (``type_id`` and both times
        set), ``properties[i]`` the property rows of ``rows[i]``, whose ``node_id`` is set
        here. Two statements however many nodes; the new ids in order."""
        created = self._insert_returning_ids(conn, kind, rows)
        property_rows: list[dict[str, Any]] = []
        for node_id, node_properties in zip(created, properties, strict=True):
            for row in node_properties:
                row["node_id"] = node_id
            property_rows.extend(node_properties)
        if property_rows:
            insert_many(conn, kind.properties, property_rows)
        return created

    def _insert_unless_stored(
        self,
        conn: Connection,
        kind: NodeKind,
        rows: list[dict[str, Any]],
        properties: Sequence[list[dict[str, Any]]],
    ) -> tuple[dict[str, int], dict[str, int]]:
        """INSERT the checked nodes of ``rows`` (as ``_insert_rows``; each with an
        ``external_id``, no two alike) whose external id is not stored yet, with their
        property rows. Returns ``{external_id: id}`` of those inserted, then of those that
        were stored already (left as they are).

        The stored ones are looked up only when the INSERT skipped some, where the database
        can skip a duplicate external id: on SQLite one executemany ``ON CONFLICT
        (external_id) DO NOTHING`` with ids after ``max(id)`` (as ``_insert_returning_ids``),
        its row count telling whether all went in, or for one node (the engine's rounds
        often finish one task) that INSERT with ``RETURNING id``, without the ``max(id)``;
        on PostgreSQL one ``INSERT ... ON CONFLICT DO NOTHING RETURNING id, external_id``.
        Elsewhere they are looked up first.
        """
        backend = conn.dialect.name
        created: dict[str, int] = {}
        if backend == "sqlite" and len(rows) == 1:
            [row] = rows
            keys = tuple(row)
            sql, order = _driver_sql(
                conn,
                ("insert_returning_unless_stored", kind.name, keys),
                partial(_sqlite_insert_returning_unless_stored, kind),
                keys,
            )
            assert order is not None  # SQLite's paramstyle is positional
            node_id = conn.exec_driver_sql(sql, tuple(row[k] for k in order)).scalar()
            if node_id is not None:
                created = {row["external_id"]: int(node_id)}
        elif backend == "sqlite":
            last = conn.execute(_MAX_ID[kind.name]).scalar() or 0
            for new_id, row in enumerate(rows, start=last + 1):
                row["id"] = new_id
            inserted = _executemany(conn, _INSERT_SKIPPING_STORED[kind.name], rows)
            if inserted.rowcount == len(rows):
                created = {row["external_id"]: row["id"] for row in rows}
            else:
                found = ids_by_external_id(conn, kind, [row["external_id"] for row in rows])
                created = {
                    r["external_id"]: r["id"] for r in rows if found[r["external_id"]] == r["id"]
                }
        elif backend == "postgresql":
            keys = tuple(rows[0])
            sql, _ = _driver_sql(
                conn,
                ("insert_unnest_unless_stored", kind.name, keys),
                partial(_unnest_insert_returning_unless_stored, kind.table, keys),
                (),
            )
            created = {
                str(external_id): int(node_id)
                for node_id, external_id in conn.exec_driver_sql(sql, _column_arrays(rows, keys))
            }
        else:
            stored = ids_by_external_id(conn, kind, [row["external_id"] for row in rows])
            new = [row for row in rows if row["external_id"] not in stored]
            if new:
                ids = self._insert_returning_ids(conn, kind, new)
                created = {row["external_id"]: i for row, i in zip(new, ids, strict=True)}
        skipped = [row["external_id"] for row in rows if row["external_id"] not in created]
        stored = ids_by_external_id(conn, kind, skipped) if skipped else {}
        property_rows: list[dict[str, Any]] = []
        for row, node_properties in zip(rows, properties, strict=True):
            node_id = created.get(row["external_id"])
            if node_id is not None:
                for property_row in node_properties:
                    property_row["node_id"] = node_id
                property_rows.extend(node_properties)
        if property_rows:
            insert_many(conn, kind.properties, property_rows)
        return created, stored

    def _existing_rows(self, session: Session, kind: NodeKind, ids: list[int]) -> dict[int, Any]:
        found: dict[int, Any] = {}
        for chunk in in_chunks(ids):
            for row in session.execute(select(kind.table).where(kind.table.c.id.in_(chunk))):
                found[row.id] = row
        return found

    def _declared_properties(
        self, conn: Connection, kind: NodeKind, type_ids: set[int], refresh: bool = False
    ) -> dict[int, dict[str, int]]:
        """{type_id: {property: data type}} of those ids that are types of ``kind``.

        Types are never deleted and their properties only grow, so what a committed
        transaction read stays true: it is cached. Entries read inside a write transaction
        are held apart and join the cache only once that transaction has committed.
        """
        pending: dict[int, tuple[int, dict[str, int]]] | None = getattr(
            self._local, "pending", None
        )
        entries: dict[int, tuple[int, dict[str, int]]] = {}
        missing = []
        for type_id in type_ids:
            entry = (
                None if refresh else (pending or {}).get(type_id) or self._type_cache.get(type_id)
            )
            if entry is None:
                missing.append(type_id)
            else:
                entries[type_id] = entry
        for chunk in in_chunks(sorted(missing)):
            loaded: dict[int, tuple[int, dict[str, int]]] = {
                type_id: (type_kind, {})
                for type_id, type_kind in conn.execute(
                    select(TYPES.c.id, TYPES.c.kind).where(TYPES.c.id.in_(chunk))
                )
            }
            for type_id, name, data_type in conn.execute(
                select(
                    TYPE_PROPERTIES.c.type_id, TYPE_PROPERTIES.c.name, TYPE_PROPERTIES.c.data_type
                ).where(TYPE_PROPERTIES.c.type_id.in_(chunk))
            ):
                loaded[type_id][1][name] = data_type
            entries.update(loaded)
            if pending is not None:
                pending.update(loaded)
        return {t: props for t, (k, props) in entries.items() if k == kind.type_kind}

    def _check_node(
        self, kind: NodeKind, message: Any, position: int, declared: dict[str, int]
    ) -> None:
        where = f"{kind.name}s[{position}]"
        if message.HasField("system_metadata"):
            raise InvalidArgument(f"{where}: system_metadata is not supported")
        if kind is CONTEXTS and not message.name:
            raise InvalidArgument(f"{where}: a context needs a name")
        for name, value in message.properties.items():
            if name not in declared:
                raise InvalidArgument(f"{where}: property {name!r} is not declared by its type")
            if value_kind(value) != declared[name]:
                raise InvalidArgument(
                    f"{where}: property {name!r} must be {pb.PropertyType.Name(declared[name])}"
                )

    def _row_values(self, kind: NodeKind, message: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for column in kind.columns:
            row[column] = getattr(message, column) if message.HasField(column) else None
        if row.get("external_id") == "":
            row["external_id"] = None
        if kind is ARTIFACTS:
            row["uri_digest"] = None if row["uri"] is None else uri_digest(row["uri"])
        return row

    def _property_rows(self, node_id: int, message: Any) -> list[dict[str, Any]]:
        rows = [property_row(node_id, n, v, custom=False) for n, v in message.properties.items()]
        rows += [
            property_row(node_id, n, v, custom=True) for n, v in message.custom_properties.items()
        ]
        return rows

    def _insert_returning_ids(
        self, conn: Connection, kind: NodeKind, rows: list[dict[str, Any]]
    ) -> list[int]:
        """One INSERT for many rows, returning their ids in the rows' order.

        SQLite cannot promise RETURNING's order for a multi-row INSERT, so SQLAlchemy would
        send one statement per row; there the transaction holds the database's write lock
        (BEGIN IMMEDIATE), so the ids are allocated after the current maximum instead and the
        rows go in one executemany.
        """
        if len(rows) == 1:
            return [int(conn.execute(_INSERT_RETURNING[kind.name], rows[0]).scalar_one())]
        if conn.dialect.name == "sqlite":
            last = conn.execute(_MAX_ID[kind.name]).scalar() or 0
            ids = list(range(last + 1, last + 1 + len(rows)))
            for node_id, row in zip(ids, rows, strict=True):
                row["id"] = node_id
            _executemany(conn, _INSERT[kind.table.name], rows)
            return ids
        return [int(i) for i in conn.execute(_INSERT_MANY_RETURNING[kind.name], rows).scalars()]

    def _update_node(
        self,
        session: Session,
        kind: NodeKind,
        message: Any,
        stored: Any,
        position: int,
        declared: dict[int, dict[str, int]],
        mask: Sequence[str],
        now: int,
        check_update_time: bool,
    ) -> None:
        where = f"{kind.name}s[{position}]"
        if message.HasField("type_id") and message.type_id != stored.type_id:
            raise InvalidArgument(f"{where}: the type of an existing {kind.name} cannot change")
        if (
            check_update_time
            and message.HasField("last_update_time_since_epoch")
            and message.last_update_time_since_epoch != stored.last_update_time_since_epoch
        ):
            raise FailedPrecondition(f"{where}: the {kind.name} changed since it was read")
        type_props = declared.get(stored.type_id, {})
        values = self._row_values(kind, message)
        if mask:
            columns = {
                p for p in mask if "." not in p and p not in ("properties", "custom_properties")
            }
            unknown = columns - set(kind.columns) - {"id", "type_id", "type"}
            if unknown:
                raise InvalidArgument(f"update_mask: unknown {kind.name} fields {sorted(unknown)}")
            values = {c: v for c, v in values.items() if c in columns}
            if kind is ARTIFACTS and "uri" in columns:
                values["uri_digest"] = None if message.uri is None else uri_digest(message.uri)
            self._check_masked_properties(kind, message, position, type_props, mask)
        else:
            self._check_node(kind, message, position, type_props)
        values["last_update_time_since_epoch"] = now
        session.execute(update(kind.table).where(kind.table.c.id == stored.id).values(values))
        props = kind.properties
        if not mask:
            session.execute(delete(props).where(props.c.node_id == stored.id))
            rows = self._property_rows(stored.id, message)
        else:
            rows = self._masked_property_rows(session, props, stored.id, message, mask)
        if rows:
            session.execute(insert(props), rows)

    def _check_masked_properties(
        self,
        kind: NodeKind,
        message: Any,
        position: int,
        declared: dict[str, int],
        mask: Sequence[str],
    ) -> None:
        names = {p.split(".", 1)[1] for p in mask if p.startswith("properties.")}
        whole = "properties" in mask
        checked = type(message)()
        for name, value in message.properties.items():
            if whole or name in names:
                checked.properties[name].CopyFrom(value)
        if kind is CONTEXTS:
            checked.name = "-"  # the name is checked only when it is updated
        self._check_node(kind, checked, position, declared)

    def _masked_property_rows(
        self, session: Session, props: Table, node_id: int, message: Any, mask: Sequence[str]
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for custom, field in ((False, "properties"), (True, "custom_properties")):
            source = getattr(message, field)
            mine = props.c.node_id == node_id
            if field in mask:
                session.execute(delete(props).where(mine, props.c.is_custom == custom))
                rows += [property_row(node_id, n, v, custom=custom) for n, v in source.items()]
                continue
            names = [p.split(".", 1)[1] for p in mask if p.startswith(field + ".")]
            if names:
                session.execute(
                    delete(props).where(mine, props.c.is_custom == custom, props.c.name.in_(names))
                )
                rows += [
                    property_row(node_id, n, source[n], custom=custom) for n in names if n in source
                ]
        return rows

    # ------------------------------------------------------------------ node reads
    def get_nodes_by_id(self, kind: NodeKind, ids: Iterable[int]) -> list[Any]:
        wanted = list(dict.fromkeys(ids))
        with self.db.read() as session:
            return self._load_nodes(session, kind, wanted)

    def _load_nodes(self, session: Session, kind: NodeKind, ids: Sequence[int]) -> list[Any]:
        """Messages of the nodes with ``ids``, in that order (missing ids are skipped)."""
        rows: dict[int, Any] = {}
        props: dict[int, list[Any]] = defaultdict(list)
        conn = session.connection()
        for chunk in in_chunks(ids):
            for row in conn.execute(_ROWS_BY_IDS[kind.name], {"ids": list(chunk)}):
                rows[row.id] = row
            for prop in conn.execute(_PROPERTIES_BY_IDS[kind.name], {"ids": list(chunk)}):
                props[prop.node_id].append(prop)
        type_names = self._type_names(conn, {row.type_id for row in rows.values()})
        out = []
        for node_id in ids:
            found = rows.get(node_id)
            if found is None:
                continue
            row = found
            message = kind.message(
                id=row.id,
                type_id=row.type_id,
                create_time_since_epoch=row.create_time_since_epoch,
                last_update_time_since_epoch=row.last_update_time_since_epoch,
            )
            type_name = type_names.get(row.type_id)
            if type_name:
                message.type = type_name
            for column in kind.columns:
                value = getattr(row, column)
                if value is not None:
                    setattr(message, column, value)
            for prop in props.get(node_id, ()):
                target = message.custom_properties if prop.is_custom else message.properties
                fill_value(target[prop.name], prop)
            out.append(message)
        return out

    def _type_names(self, conn: Connection, type_ids: set[int]) -> dict[int, str]:
        """Names of types by id. A type's name never changes: they are cached once read."""
        missing = sorted(t for t in type_ids if t not in self._type_name_cache)
        if missing:
            found = {int(i): str(n) for i, n in conn.execute(_TYPE_NAMES, {"ids": missing})}
            if getattr(self._local, "pending", None) is None:  # read committed rows only
                self._type_name_cache.update(found)
            return {**self._type_name_cache, **found}
        return self._type_name_cache

    def list_nodes(
        self,
        kind: NodeKind,
        options: pb.ListOperationOptions | None,
        *,
        condition: Any = None,
    ) -> Page:
        """A page of nodes matching ``condition`` and the options' filter, in their order.

        Without options every match is returned, by id. Page tokens carry the last row's sort
        value and id (keyset paging) and the options they were made for.
        """
        table = kind.table
        with self.db.read() as session:
            statement: Select[Any] = select(table.c.id)
            if condition is not None:
                statement = statement.where(condition)
            if options is None:
                ids = list(session.execute(statement.order_by(table.c.id)).scalars())
                return Page(self._load_nodes(session, kind, ids), None)
            size = options.max_result_size
            if size <= 0:
                raise InvalidArgument("options.max_result_size must be positive")
            size = min(size, MAX_PAGE_SIZE)
            field = options.order_by_field.field or pb.ListOperationOptions.OrderByField.ID
            column = {
                pb.ListOperationOptions.OrderByField.CREATE_TIME: table.c.create_time_since_epoch,
                pb.ListOperationOptions.OrderByField.LAST_UPDATE_TIME: (
                    table.c.last_update_time_since_epoch
                ),
                pb.ListOperationOptions.OrderByField.ID: table.c.id,
            }[field]
            ascending = options.order_by_field.is_asc
            if options.filter_query:
                statement = statement.where(
                    table.c.id.in_(matching_ids(options.filter_query, kind.filter_tables))
                )
            signature = [int(field), bool(ascending), options.filter_query]
            if options.next_page_token:
                last_value, last_id = _decode_token(options.next_page_token, signature)
                if ascending:
                    after = or_(
                        column > last_value, and_(column == last_value, table.c.id > last_id)
                    )
                else:
                    after = or_(
                        column < last_value, and_(column == last_value, table.c.id < last_id)
                    )
                statement = statement.where(after)
            order = (
                (column.asc(), table.c.id.asc())
                if ascending
                else (column.desc(), table.c.id.desc())
            )
            statement = statement.add_columns(column).order_by(*order).limit(size + 1)
            found = session.execute(statement).all()
            token = None
            if len(found) > size:
                found = found[:size]
                token = _encode_token(signature, found[-1][1], found[-1][0])
            return Page(self._load_nodes(session, kind, [row[0] for row in found]), token)

    def type_condition(self, kind: NodeKind, type_name: str, type_version: str) -> Any:
        """Nodes of the named type (no node when the type does not exist)."""
        type_ids = select(TYPES.c.id).where(
            TYPES.c.kind == kind.type_kind,
            TYPES.c.name == type_name,
            TYPES.c.version == type_version,
        )
        return kind.table.c.type_id.in_(type_ids.scalar_subquery())

    def context_condition(self, kind: NodeKind, context_id: int) -> Any:
        if kind is ARTIFACTS:
            linked = select(ATTRIBUTIONS.c.artifact_id).where(
                ATTRIBUTIONS.c.context_id == context_id
            )
        else:
            linked = select(ASSOCIATIONS.c.execution_id).where(
                ASSOCIATIONS.c.context_id == context_id
            )
        return kind.table.c.id.in_(linked)

    def get_node_by_type_and_name(
        self, kind: NodeKind, type_name: str, type_version: str, name: str
    ) -> Any | None:
        condition = and_(
            self.type_condition(kind, type_name, type_version), kind.table.c.name == name
        )
        found = self.list_nodes(kind, None, condition=condition).items
        return found[0] if found else None

    def get_nodes_by_external_ids(self, kind: NodeKind, external_ids: Sequence[str]) -> list[Any]:
        if any(not e for e in external_ids):
            raise InvalidArgument("external_ids must not contain an empty string")
        return self.list_nodes(
            kind, None, condition=kind.table.c.external_id.in_(list(external_ids))
        ).items

    def get_artifacts_by_uri(self, uris: Sequence[str]) -> list[Any]:
        digests = [uri_digest(u) for u in uris]
        table = ARTIFACTS.table
        return self.list_nodes(
            ARTIFACTS, None, condition=and_(table.c.uri_digest.in_(digests), table.c.uri.in_(uris))
        ).items

    # ------------------------------------------------------------------ events and links
    def put_events(self, events: Sequence[pb.Event]) -> None:
        self._write(lambda session: self._put_events(session, events))

    def _put_events(
        self, session: Session, events: Sequence[pb.Event], *, verified: bool = False
    ) -> None:
        """INSERT events. ``verified``: the caller wrote or checked every node they name in
        this transaction (existing duplicates are then left to the unique key)."""
        if not events:
            return
        now = now_ms()
        rows: list[dict[str, Any]] = []
        for position, event in enumerate(events):
            where = f"events[{position}]"
            if not event.HasField("artifact_id") or not event.HasField("execution_id"):
                raise InvalidArgument(f"{where}: artifact_id and execution_id must be set")
            if not event.type:
                raise InvalidArgument(f"{where}: type must be set")
            rows.append(
                {
                    "artifact_id": event.artifact_id,
                    "execution_id": event.execution_id,
                    "type": event.type,
                    "path": _path_json(event) if event.HasField("path") else None,
                    "milliseconds_since_epoch": (
                        event.milliseconds_since_epoch
                        if event.HasField("milliseconds_since_epoch")
                        else now
                    ),
                }
            )
        keys = {(r["artifact_id"], r["execution_id"], r["type"]) for r in rows}
        if len(keys) != len(rows):
            raise InvalidArgument("events: the same (artifact, execution, type) is given twice")
        existing: set[tuple[int, int, int]] = set()
        if not verified:
            self._require(session, ARTIFACTS, {r["artifact_id"] for r in rows}, "events")
            self._require(session, EXECUTIONS, {r["execution_id"] for r in rows}, "events")
            existing = self._existing_events(session, keys)
        if existing:
            artifact_id, execution_id, event_type = sorted(existing)[0]
            raise AlreadyExists(
                f"an event of type {pb.Event.Type.Name(event_type)} between artifact "
                f"{artifact_id} and execution {execution_id} exists"
            )
        insert_many(session.connection(), EVENTS, rows)

    def _existing_events(
        self, session: Session, keys: set[tuple[int, int, int]]
    ) -> set[tuple[int, int, int]]:
        artifact_ids = sorted({k[0] for k in keys})
        found: set[tuple[int, int, int]] = set()
        for chunk in in_chunks(artifact_ids):
            for row in session.execute(
                select(EVENTS.c.artifact_id, EVENTS.c.execution_id, EVENTS.c.type).where(
                    EVENTS.c.artifact_id.in_(chunk)
                )
            ):
                key = (row[0], row[1], row[2])
                if key in keys:
                    found.add(key)
        return found

    def _require(self, session: Session, kind: NodeKind, ids: set[int], where: str) -> None:
        """InvalidArgument naming the first id of ``ids`` that is not a stored node."""
        if not ids:
            return
        wanted = sorted(ids)
        present: set[int] = set()
        for chunk in in_chunks(wanted):
            present.update(
                session.execute(select(kind.table.c.id).where(kind.table.c.id.in_(chunk))).scalars()
            )
        missing = [i for i in wanted if i not in present]
        if missing:
            raise InvalidArgument(f"{where}: no {kind.name} with id {missing[0]}")

    def get_events(
        self, *, artifact_ids: Sequence[int] = (), execution_ids: Sequence[int] = ()
    ) -> list[pb.Event]:
        with self.db.read() as session:
            return self._events(session, EVENTS.c.artifact_id, artifact_ids) + self._events(
                session, EVENTS.c.execution_id, execution_ids
            )

    def _events(self, session: Session, column: Any, ids: Sequence[int]) -> list[pb.Event]:
        out = []
        conn = session.connection()
        for chunk in in_chunks(list(dict.fromkeys(ids))):
            for row in conn.execute(_EVENTS_BY[column.name], {"ids": list(chunk)}):
                out.append(_event_message(row))
        return out

    def put_attributions_and_associations(
        self, attributions: Sequence[pb.Attribution], associations: Sequence[pb.Association]
    ) -> None:
        self._write(
            lambda session: self._link(
                session,
                [(a.context_id, a.artifact_id) for a in attributions],
                [(a.context_id, a.execution_id) for a in associations],
            )
        )

    def _link(
        self,
        session: Session,
        attributions: Sequence[tuple[int, int]],
        associations: Sequence[tuple[int, int]],
        *,
        verified: bool = False,
    ) -> None:
        """Attribute and associate, ignoring links that exist. ``verified``: every node named
        was written or checked in this transaction (MySQL's INSERT IGNORE would otherwise
        swallow a missing one)."""
        if not verified:
            contexts = {c for c, _ in attributions} | {c for c, _ in associations}
            self._require(session, CONTEXTS, contexts, "attributions/associations")
            self._require(session, ARTIFACTS, {a for _, a in attributions}, "attributions")
            self._require(session, EXECUTIONS, {e for _, e in associations}, "associations")
        insert_ignoring_duplicates(
            session,
            ATTRIBUTIONS,
            [{"context_id": c, "artifact_id": a} for c, a in dict.fromkeys(attributions)],
        )
        insert_ignoring_duplicates(
            session,
            ASSOCIATIONS,
            [{"context_id": c, "execution_id": e} for c, e in dict.fromkeys(associations)],
        )

    def put_parent_contexts(self, links: Sequence[pb.ParentContext]) -> None:
        pairs = [(link.child_id, link.parent_id) for link in links]
        self._write(lambda session: self._put_parent_contexts(session, pairs))

    def _put_parent_contexts(self, session: Session, pairs: Sequence[tuple[int, int]]) -> None:
        for position, (child, parent) in enumerate(pairs):
            if child == parent:
                raise InvalidArgument(
                    f"parent_contexts[{position}]: a context cannot be its own parent"
                )
        self._require(session, CONTEXTS, {c for pair in pairs for c in pair}, "parent_contexts")
        for child, parent in pairs:
            if child in self._ancestors(session, parent):
                raise InvalidArgument(
                    f"parent_contexts: making {parent} a parent of {child} would form a cycle"
                )
            exists_already = session.execute(
                select(PARENT_CONTEXTS.c.context_id).where(
                    PARENT_CONTEXTS.c.context_id == child,
                    PARENT_CONTEXTS.c.parent_context_id == parent,
                )
            ).first()
            if exists_already is not None:
                raise AlreadyExists(f"context {parent} is already a parent of context {child}")
            session.execute(
                insert(PARENT_CONTEXTS).values(context_id=child, parent_context_id=parent)
            )

    def _ancestors(self, session: Session, context_id: int) -> set[int]:
        seen: set[int] = set()
        frontier = {context_id}
        while frontier:
            parents = set(
                session.execute(
                    select(PARENT_CONTEXTS.c.parent_context_id).where(
                        PARENT_CONTEXTS.c.context_id.in_(sorted(frontier))
                    )
                ).scalars()
            )
            frontier = parents - seen
            seen |= parents
        return seen

    def get_contexts_of(self, kind: NodeKind, node_id: int) -> list[Any]:
        link, column = (
            (ATTRIBUTIONS, ATTRIBUTIONS.c.artifact_id)
            if kind is ARTIFACTS
            else (
                ASSOCIATIONS,
                ASSOCIATIONS.c.execution_id,
            )
        )
        condition = CONTEXTS.table.c.id.in_(select(link.c.context_id).where(column == node_id))
        return self.list_nodes(CONTEXTS, None, condition=condition).items

    def get_parent_contexts(self, context_ids: Sequence[int]) -> dict[int, list[Any]]:
        return self._related_contexts(context_ids, children=False)

    def get_children_contexts(self, context_ids: Sequence[int]) -> dict[int, list[Any]]:
        return self._related_contexts(context_ids, children=True)

    def _related_contexts(
        self, context_ids: Sequence[int], *, children: bool
    ) -> dict[int, list[Any]]:
        key, other = (
            (PARENT_CONTEXTS.c.parent_context_id, PARENT_CONTEXTS.c.context_id)
            if children
            else (PARENT_CONTEXTS.c.context_id, PARENT_CONTEXTS.c.parent_context_id)
        )
        with self.db.read() as session:
            pairs = session.execute(
                select(key, other).where(key.in_(list(context_ids))).order_by(key, other)
            ).all()
            contexts = {
                c.id: c for c in self._load_nodes(session, CONTEXTS, sorted({p[1] for p in pairs}))
            }
        out: dict[int, list[Any]] = {}
        for owner, related in pairs:
            out.setdefault(owner, []).append(contexts[related])
        return out

    # ------------------------------------------------------------------ composite writes
    def put_execution(self, request: Any) -> tuple[int, list[int], list[int]]:
        """PutExecution: the execution, its artifacts and events, its contexts, atomically."""
        options = request.options

        def work(session: Session) -> tuple[int, list[int], list[int]]:
            execution_id = self._put_nodes(session, EXECUTIONS, [request.execution])[0]
            pairs = request.artifact_event_pairs
            artifact_ids: list[int] = [0] * len(pairs)
            written: list[tuple[int, Any]] = []  # (position, artifact) put in one batch
            referenced: set[int] = set()  # ids named only by an event: checked below
            for position, pair in enumerate(pairs):
                if pair.HasField("artifact"):
                    artifact = self._reusable_artifact(
                        session,
                        pair.artifact,
                        options.reuse_artifact_if_already_exist_by_external_id,
                    )
                    written.append((position, artifact))
                elif pair.HasField("event") and pair.event.HasField("artifact_id"):
                    artifact_ids[position] = pair.event.artifact_id
                    referenced.add(pair.event.artifact_id)
                else:
                    raise InvalidArgument(
                        f"artifact_event_pairs[{position}]: needs an artifact or an event "
                        "with artifact_id"
                    )
            put = self._put_nodes(session, ARTIFACTS, [a for _, a in written])
            for (position, _), artifact_id in zip(written, put, strict=True):
                artifact_ids[position] = artifact_id
            self._require(session, ARTIFACTS, referenced, "artifact_event_pairs")
            events: list[pb.Event] = []
            for position, pair in enumerate(pairs):
                if not pair.HasField("event"):
                    continue
                event = pb.Event()
                event.CopyFrom(pair.event)
                for field, value in (
                    ("artifact_id", artifact_ids[position]),
                    ("execution_id", execution_id),
                ):
                    if event.HasField(field) and getattr(event, field) != value:
                        raise InvalidArgument(
                            f"artifact_event_pairs[{position}]: event.{field} differs from "
                            f"the id of the {field.split('_')[0]} it is paired with"
                        )
                    setattr(event, field, value)
                events.append(event)
            # A new execution has no events yet; an updated one may: let those be checked.
            self._put_events(session, events, verified=not request.execution.HasField("id"))
            context_ids = self._put_contexts_reusing(
                session, request.contexts, options.reuse_context_if_already_exist
            )
            self._link(
                session,
                [(c, a) for c in context_ids for a in dict.fromkeys(artifact_ids)],
                [(c, execution_id) for c in context_ids],
                verified=True,
            )
            return execution_id, artifact_ids, context_ids

        return self._write(work, retry=options.reuse_context_if_already_exist)

    def put_lineage_subgraph(self, request: Any) -> tuple[list[int], list[int], list[int]]:
        """PutLineageSubgraph: nodes, event edges by index, links to every context, atomically."""
        options = request.options

        def work(session: Session) -> tuple[list[int], list[int], list[int]]:
            execution_ids = self._put_nodes(session, EXECUTIONS, list(request.executions))
            artifacts = [
                self._reusable_artifact(
                    session, a, options.reuse_artifact_if_already_exist_by_external_id
                )
                for a in request.artifacts
            ]
            artifact_ids = self._put_nodes(session, ARTIFACTS, artifacts)
            context_ids = self._put_contexts_reusing(
                session, request.contexts, options.reuse_context_if_already_exist
            )
            events = []
            for position, edge in enumerate(request.event_edges):
                event = pb.Event()
                event.CopyFrom(edge.event)
                for index_field, ids, id_field in (
                    ("execution_index", execution_ids, "execution_id"),
                    ("artifact_index", artifact_ids, "artifact_id"),
                ):
                    if edge.HasField(index_field):
                        index = getattr(edge, index_field)
                        if not 0 <= index < len(ids):
                            raise InvalidArgument(
                                f"event_edges[{position}].{index_field} {index} is out of range"
                            )
                        setattr(event, id_field, ids[index])
                    elif not event.HasField(id_field):
                        raise InvalidArgument(
                            f"event_edges[{position}]: set {index_field} or event.{id_field}"
                        )
                events.append(event)
            self._put_events(session, events)
            self._link(
                session,
                [(c, a) for c in context_ids for a in dict.fromkeys(artifact_ids)],
                [(c, e) for c in context_ids for e in execution_ids],
                verified=True,
            )
            return execution_ids, artifact_ids, context_ids

        return self._write(work, retry=options.reuse_context_if_already_exist)

    def _reusable_artifact(self, session: Session, artifact: Any, reuse: bool) -> Any:
        """With reuse by external id, an artifact without id takes the stored one's id."""
        if not reuse or artifact.HasField("id") or not artifact.external_id:
            return artifact
        found = (
            session.connection()
            .execute(_FIND_ARTIFACT_BY_EXTERNAL_ID, {"external_id": artifact.external_id})
            .scalar()
        )
        if found is None:
            return artifact
        reused = pb.Artifact()
        reused.CopyFrom(artifact)
        reused.id = found
        return reused

    def _put_contexts_reusing(
        self, session: Session, contexts: Sequence[Any], reuse: bool
    ) -> list[int]:
        ids = []
        for context in contexts:
            if reuse and not context.HasField("id") and context.HasField("type_id"):
                found = (
                    session.connection()
                    .execute(_FIND_CONTEXT, {"type_id": context.type_id, "name": context.name})
                    .scalar()
                )
                if found is not None:
                    ids.append(int(found))
                    continue
            ids.append(self._put_nodes(session, CONTEXTS, [context])[0])
        return ids

    def _write(self, work: Callable[[Session], T], *, retry: bool = False) -> T:
        """Run ``work`` in one write transaction; with ``retry``, once more after a
        unique-key race (the second attempt finds the winner's row)."""
        for attempt in (1, 2):
            self._local.pending = {}
            try:
                with self.db.write() as session:
                    result = work(session)
            except AlreadyExists:
                if not retry or attempt == 2:
                    raise
                logger.debug("metadata write lost a race on a unique key; retrying once")
                continue
            finally:
                pending, self._local.pending = self._local.pending, None
            self._type_cache.update(pending)  # committed: what it read about types holds
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ lineage
    def get_lineage_subgraph(
        self, options: pb.LineageSubgraphQueryOptions, read_mask: Sequence[str] = ()
    ) -> pb.LineageGraph:
        which = options.WhichOneof("starting_nodes")
        if which is None:
            raise InvalidArgument(
                "lineage_subgraph_query_options: set starting_artifacts or starting_executions"
            )
        start_filter = getattr(options, which).filter_query
        if not start_filter.strip():
            raise InvalidArgument(f"lineage_subgraph_query_options.{which}.filter_query is empty")
        hops = options.max_num_hops if options.HasField("max_num_hops") else DEFAULT_MAX_HOPS
        if hops < 0:
            raise InvalidArgument("lineage_subgraph_query_options.max_num_hops must be >= 0")
        direction = options.direction or pb.LineageSubgraphQueryOptions.BIDIRECTIONAL
        with self.db.read() as session:
            kind = ARTIFACTS if which == "starting_artifacts" else EXECUTIONS
            start = set(session.execute(matching_ids(start_filter, kind.filter_tables)).scalars())
            artifacts, executions = self._walk(
                session,
                start_artifacts=start if kind is ARTIFACTS else set(),
                start_executions=start if kind is EXECUTIONS else set(),
                hops=hops,
                direction=direction,
                ending_artifacts=options.ending_artifacts
                if options.HasField("ending_artifacts")
                else None,
                ending_executions=options.ending_executions
                if options.HasField("ending_executions")
                else None,
            )
            return self._graph(session, artifacts, executions, read_mask)

    def get_lineage_graph(self, options: pb.LineageGraphQueryOptions) -> pb.LineageGraph:
        """The deprecated GetLineageGraph: both directions from the artifacts the options pick."""
        stop = options.stop_conditions
        if stop.boundary_artifacts or stop.boundary_executions:
            raise InvalidArgument(
                "GetLineageGraph: boundary_artifacts/boundary_executions are not supported; "
                "use GetLineageSubgraph with ending_artifacts/ending_executions"
            )
        hops = stop.max_num_hops if stop.HasField("max_num_hops") else DEFAULT_MAX_HOPS
        if hops < 0:
            raise InvalidArgument("options.stop_conditions.max_num_hops must be >= 0")
        query = options.artifacts_options if options.HasField("artifacts_options") else None
        start = {a.id for a in self.list_nodes(ARTIFACTS, query).items}
        limit = options.max_node_size if options.max_node_size > 0 else None
        with self.db.read() as session:
            artifacts, executions = self._walk(
                session,
                start_artifacts=start,
                start_executions=set(),
                hops=hops,
                direction=pb.LineageSubgraphQueryOptions.BIDIRECTIONAL,
                limit=limit,
            )
            return self._graph(session, artifacts, executions, ())

    def _walk(
        self,
        session: Session,
        *,
        start_artifacts: set[int],
        start_executions: set[int],
        hops: int,
        direction: int,
        ending_artifacts: Any = None,
        ending_executions: Any = None,
        limit: int | None = None,
    ) -> tuple[list[int], list[int]]:
        """Breadth-first over events, one query per side and hop; returns nodes in visit order."""
        artifacts = dict.fromkeys(sorted(start_artifacts))
        executions = dict.fromkeys(sorted(start_executions))
        if limit is not None:
            artifacts = dict.fromkeys(list(artifacts)[:limit])
        stopped_a = self._ending(session, ARTIFACTS, ending_artifacts, list(artifacts))
        stopped_e = self._ending(session, EXECUTIONS, ending_executions, list(executions))
        frontier_a = [a for a in artifacts if a not in stopped_a]
        frontier_e = [e for e in executions if e not in stopped_e]
        up = direction in (
            pb.LineageSubgraphQueryOptions.UPSTREAM,
            pb.LineageSubgraphQueryOptions.BIDIRECTIONAL,
        )
        down = direction in (
            pb.LineageSubgraphQueryOptions.DOWNSTREAM,
            pb.LineageSubgraphQueryOptions.BIDIRECTIONAL,
        )
        types_from_artifact = _event_types(up=up, down=down, from_artifact=True)
        types_from_execution = _event_types(up=up, down=down, from_artifact=False)
        for _ in range(hops):
            if not frontier_a and not frontier_e:
                break
            found_e = self._neighbours(
                session,
                EVENTS.c.artifact_id,
                EVENTS.c.execution_id,
                frontier_a,
                types_from_artifact,
            )
            found_a = self._neighbours(
                session,
                EVENTS.c.execution_id,
                EVENTS.c.artifact_id,
                frontier_e,
                types_from_execution,
            )
            new_e = [e for e in found_e if e not in executions]
            new_a = [a for a in found_a if a not in artifacts]
            if limit is not None:
                room = limit - len(artifacts) - len(executions)
                new_e = new_e[: max(room, 0)]
                new_a = new_a[: max(room - len(new_e), 0)]
            executions.update(dict.fromkeys(new_e))
            artifacts.update(dict.fromkeys(new_a))
            end_e = self._ending(session, EXECUTIONS, ending_executions, new_e)
            end_a = self._ending(session, ARTIFACTS, ending_artifacts, new_a)
            stopped_e |= end_e
            stopped_a |= end_a
            frontier_e = [e for e in new_e if e not in end_e]
            frontier_a = [a for a in new_a if a not in end_a]
        kept_a = [a for a in artifacts if a not in stopped_a or _included(ending_artifacts)]
        kept_e = [e for e in executions if e not in stopped_e or _included(ending_executions)]
        return kept_a, kept_e

    def _neighbours(
        self, session: Session, source: Any, target: Any, ids: Sequence[int], types: tuple[int, ...]
    ) -> list[int]:
        if not ids or not types:
            return []
        found: dict[int, None] = {}
        statement = _NEIGHBOURS[(source.name, target.name)]
        conn = session.connection()
        for chunk in in_chunks(list(ids)):
            params = {"ids": list(chunk), "types": list(types)}
            found.update(dict.fromkeys(sorted(conn.execute(statement, params).scalars())))
        return list(found)

    def _ending(
        self, session: Session, kind: NodeKind, ending: Any, ids: Sequence[int]
    ) -> set[int]:
        if ending is None or not ending.filter_query.strip() or not ids:
            return set()
        matched: set[int] = set()
        for chunk in in_chunks(list(ids)):
            statement = matching_ids(ending.filter_query, kind.filter_tables).where(
                kind.table.c.id.in_(chunk)
            )
            matched.update(session.execute(statement).scalars())
        return matched

    def _graph(
        self,
        session: Session,
        artifact_ids: list[int],
        execution_ids: list[int],
        read_mask: Sequence[str],
    ) -> pb.LineageGraph:
        fields = set(read_mask) or {
            "artifacts",
            "executions",
            "contexts",
            "events",
            "artifact_types",
            "execution_types",
            "context_types",
        }
        unknown = fields - set(pb.LineageGraph.DESCRIPTOR.fields_by_name)
        if unknown:
            raise InvalidArgument(f"read_mask: unknown LineageGraph fields {sorted(unknown)}")
        graph = pb.LineageGraph()
        artifacts = self._load_nodes(session, ARTIFACTS, artifact_ids)
        executions = self._load_nodes(session, EXECUTIONS, execution_ids)
        if "artifacts" in fields:
            graph.artifacts.extend(artifacts)
        if "executions" in fields:
            graph.executions.extend(executions)
        if "events" in fields and artifact_ids and execution_ids:
            wanted = set(execution_ids)
            graph.events.extend(
                e
                for e in self._events(session, EVENTS.c.artifact_id, artifact_ids)
                if e.execution_id in wanted
            )
        attributions = self._pairs(session, ATTRIBUTIONS, ATTRIBUTIONS.c.artifact_id, artifact_ids)
        associations = self._pairs(
            session, ASSOCIATIONS, ASSOCIATIONS.c.execution_id, execution_ids
        )
        context_ids = sorted({c for c, _ in attributions} | {c for c, _ in associations})
        contexts = self._load_nodes(session, CONTEXTS, context_ids)
        if "contexts" in fields:
            graph.contexts.extend(contexts)
        if "attributions" in fields:
            graph.attributions.extend(
                pb.Attribution(context_id=c, artifact_id=a) for c, a in attributions
            )
        if "associations" in fields:
            graph.associations.extend(
                pb.Association(context_id=c, execution_id=e) for c, e in associations
            )
        nodes_of = {
            "artifact_types": artifacts,
            "execution_types": executions,
            "context_types": contexts,
        }
        type_ids = sorted(
            {n.type_id for f, nodes in nodes_of.items() if f in fields for n in nodes}
        )
        for message in self._types(session, type_ids=type_ids):
            getattr(graph, _TYPE_FIELDS[type(message)]).append(message)
        return graph

    def _pairs(
        self, session: Session, table: Table, column: Any, ids: Sequence[int]
    ) -> list[tuple[int, int]]:
        pairs: list[tuple[int, int]] = []
        conn = session.connection()
        for chunk in in_chunks(list(ids)):
            pairs.extend(
                (int(c), int(n))
                for c, n in conn.execute(_CONTEXT_PAIRS[table.name], {"ids": list(chunk)})
            )
        return pairs


_TYPE_FIELDS = {
    pb.ArtifactType: "artifact_types",
    pb.ExecutionType: "execution_types",
    pb.ContextType: "context_types",
}


def _included(ending: Any) -> bool:
    return ending is not None and bool(ending.include_ending_nodes)


def _event_types(*, up: bool, down: bool, from_artifact: bool) -> tuple[int, ...]:
    """Event types to follow: upstream of an artifact are the executions that output it."""
    types: tuple[int, ...] = ()
    if up:
        types += OUTPUT_EVENTS if from_artifact else INPUT_EVENTS
    if down:
        types += INPUT_EVENTS if from_artifact else OUTPUT_EVENTS
    if up and down:
        types += (pb.Event.UNKNOWN,)
    return types


def _insert_one(session: Session, table: Table, values: dict[str, Any]) -> int:
    """INSERT one row and return its id (RETURNING: every supported backend has it)."""
    return int(session.execute(insert(table).values(values).returning(table.c.id)).scalar_one())


def _path_json(event: pb.Event) -> str:
    steps: list[dict[str, Any]] = []
    for step in event.path.steps:
        which = step.WhichOneof("value")
        if which == "index":
            steps.append({"index": step.index})
        elif which == "key":
            steps.append({"key": step.key})
        else:
            steps.append({})
    return json.dumps(steps, separators=(",", ":"))


def _event_message(row: Any) -> pb.Event:
    event = pb.Event(
        artifact_id=row.artifact_id,
        execution_id=row.execution_id,
        type=row.type,
        milliseconds_since_epoch=row.milliseconds_since_epoch,
    )
    if row.path is not None:
        event.path.SetInParent()
        for step in json.loads(row.path):
            target = event.path.steps.add()
            if "index" in step:
                target.index = step["index"]
            elif "key" in step:
                target.key = step["key"]
    return event


def _encode_token(signature: list[Any], value: int, node_id: int) -> str:
    raw = json.dumps({"s": signature, "v": value, "i": node_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_token(token: str, signature: list[Any]) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        value, node_id, made_for = int(data["v"]), int(data["i"]), data["s"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidArgument("options.next_page_token is not a token this server issued") from exc
    if made_for != signature:
        raise InvalidArgument(
            "options.next_page_token was issued for another order_by_field or filter_query"
        )
    return value, node_id
