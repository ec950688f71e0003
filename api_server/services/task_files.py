"""What a run's tasks left behind: their logs and their output artifacts' content.

A task's log is its stream in the engine's local log of the run (``domain.task_logs``): the
file's path is kept in the task's ``executor_detail.log``, the stream's name in
``executor_detail.log_stream``. Artifacts live under the run's pipeline root, which may be a
local folder or an object store; the composition root hands in the reader for both.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from api_server.storage import runs as store
from domain import task_logs
from domain.errors import FailedPrecondition, NotFound
from domain.states import TERMINAL_STATES

from .context import ServiceContext


class ArtifactReader(Protocol):
    def read(self, uri: str, limit: int) -> bytes:
        """The content of the object at ``uri`` (at most ``limit`` bytes; a larger one is
        refused with ``FailedPrecondition``). A folder-shaped artifact is a gzipped tar."""
        ...


@dataclass(frozen=True)
class TaskLog:
    path: Path
    stream: str | None  # None: the whole file is the task's (runs of older servers)
    finished: bool


class TaskFileService:
    def __init__(
        self, ctx: ServiceContext, reader: LocalArtifactReader, *, max_read_bytes: int
    ) -> None:
        self.ctx = ctx
        self.reader = reader
        self.max_read_bytes = max_read_bytes

    @staticmethod
    def _task(session: Session, run_id: str, node_id: str) -> Any:
        row = store.get_task_rows(session.connection(), {node_id}).get(node_id)
        if row is None or row.run_id != run_id:
            if store.get_row(session, run_id) is None:
                raise NotFound(f"run {run_id!r} does not exist")
            raise NotFound(f"run {run_id!r} has no node {node_id!r}")
        return row

    def log(self, run_id: str, node_id: str) -> TaskLog:
        """Where the task's log is, and whether it is complete; NotFound for a node that
        ran no process (a DAG, a cache hit, a task not started yet)."""
        with self.ctx.db.read() as session:
            row = self._task(session, run_id, node_id)
        detail = row.executor_detail or {}
        path = detail.get("log")
        if not isinstance(path, str) or not path:
            raise NotFound(f"node {node_id!r} of run {run_id!r} has no log: it ran no process")
        stream = detail.get("log_stream")
        return TaskLog(
            path=Path(path),
            stream=str(stream) if stream else None,
            finished=row.state in TERMINAL_STATES,
        )

    def read_log(self, log: TaskLog) -> bytes:
        """The task's whole log as it stands."""
        return task_logs.read_stream(log.path, log.stream)[0]

    def follow_log(self, run_id: str, node_id: str, log: TaskLog) -> Iterator[bytes]:
        """The task's log as it is written, until the task has ended."""
        return task_logs.follow(log.path, log.stream, lambda: self.is_finished(run_id, node_id))

    def is_finished(self, run_id: str, node_id: str) -> bool:
        with self.ctx.db.read() as session:
            return bool(self._task(session, run_id, node_id).state in TERMINAL_STATES)

    def artifact(self, run_id: str, node_id: str, name: str) -> bytes:
        with self.ctx.db.read() as session:
            row = self._task(session, run_id, node_id)
            run = store.get_row(session, run_id)
        artifacts = (row.outputs or {}).get("artifacts") or {}
        found = artifacts.get(name)
        if not found:
            known = ", ".join(sorted(artifacts)) or "none"
            raise NotFound(
                f"node {node_id!r} of run {run_id!r} has no output artifact {name!r} "
                f"(its artifacts: {known})"
            )
        uri = found[0].get("uri", "")
        config = (run.runtime_config if run is not None else None) or {}
        root = str(config.get("pipeline_root") or "").removeprefix("file://")
        extra = [Path(root)] if root.startswith("/") else []
        return self.reader.read(uri, self.max_read_bytes, extra_roots=extra)


class LocalArtifactReader:
    """Reads artifacts stored as local paths, inside the server's artifact folders only
    (an importer may name any path; the API must not serve the machine's files);
    ``remote`` handles any other scheme."""

    def __init__(self, remote: ArtifactReader | None = None, *, roots: Sequence[Path] = ()) -> None:
        self.remote = remote
        self.roots = [root.resolve() for root in roots]

    def read(self, uri: str, limit: int, *, extra_roots: Sequence[Path] = ()) -> bytes:
        if not uri.startswith("/"):
            if self.remote is None:
                raise FailedPrecondition(f"artifact {uri!r} is not in a store this server reads")
            return self.remote.read(uri, limit)
        path = Path(uri).resolve()
        roots = [*self.roots, *(root.resolve() for root in extra_roots)]
        if not any(path == root or root in path.parents for root in roots):
            raise FailedPrecondition(
                f"artifact {uri!r} is outside this server's artifact folders; it is not served"
            )
        if path.is_dir():
            return _tar_folder(path, limit)
        if not path.is_file():
            raise NotFound(f"artifact content at {uri!r} does not exist")
        size = path.stat().st_size
        if size > limit:
            raise FailedPrecondition(
                f"artifact {uri!r} is {size} bytes; at most {limit} are served"
            )
        return path.read_bytes()


def _tar_folder(path: Path, limit: int) -> bytes:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    if total > limit:
        raise FailedPrecondition(
            f"artifact {str(path)!r} holds {total} bytes; at most {limit} are served"
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(path, arcname=path.name)
    return buffer.getvalue()
