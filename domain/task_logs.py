"""Task logs: every task of a run writes into one append-only file, the run's log.

The embedded engine reads each task's stdout and stderr from a pipe and appends what it
reads to the run's log as records; the API serves one task's records back, whole or as they
come. One file per run instead of one per task: creating a file costs far more than
appending to one, and a fan-out of many short tasks would otherwise spend most of its time
creating files.

A record is a header line ``<stream> <length>\\n`` followed by ``length`` bytes of output.
A stream names one task (its node id); the records of a stream, in order, are its log. A
record is written with a single ``write`` on a descriptor opened for appending, so records
of concurrent tasks never interleave. A record cut short (the machine stopped mid-write)
ends the readable log.

Older runs kept one plain file per task: a task whose details name no stream reads its
whole file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

#: How many bytes of a task's latest output are kept in memory (for its error message).
TAIL_BYTES = 8192


def record(stream: str, data: bytes) -> bytes:
    """The bytes of one record."""
    return b"%s %d\n" % (stream.encode(), len(data)) + data


def read_stream(path: Path, stream: str | None, offset: int = 0) -> tuple[bytes, int]:
    """The output of ``stream`` in the log at ``path`` from ``offset`` on, and the offset to
    continue from (just past the last whole record). ``stream`` None: a plain file, all of
    it. A missing file has no output yet."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return b"", offset
    with fh:
        fh.seek(offset)
        if stream is None:
            data = fh.read()
            return data, offset + len(data)
        wanted = stream.encode()
        size = os.fstat(fh.fileno()).st_size
        chunks: list[bytes] = []
        while True:
            header = fh.readline(1024)
            if not header.endswith(b"\n"):
                break
            name, _, length_text = header[:-1].rpartition(b" ")
            try:
                length = int(length_text)
            except ValueError:
                break  # not a record: nothing after it can be trusted
            start = fh.tell()
            if start + length > size:
                break  # cut short (or still being written)
            if name == wanted:
                chunks.append(fh.read(length))
            else:
                fh.seek(length, os.SEEK_CUR)
            offset = start + length
        return b"".join(chunks), offset


class RunLog:
    """A run's log, open for appending (created, with its folder, on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def append(self, stream: str, data: bytes) -> None:
        if not data:
            return
        payload = record(stream, data)
        fd = self._open()
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]

    def output(self, stream: str) -> TaskOutput:
        """Where one task's output goes."""
        return TaskOutput(self, stream)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _open(self) -> int:
        fd = self._fd
        if fd is not None:
            return fd
        with self._lock:
            if self._fd is None:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                try:
                    self._fd = os.open(self.path, flags, 0o666)
                except FileNotFoundError:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, flags, 0o666)
            return self._fd


class TaskOutput:
    """One task's stream of a run's log; remembers the latest output written through it."""

    def __init__(self, log: RunLog, stream: str) -> None:
        self.log = log
        self.stream = stream
        self._tail = b""

    def write(self, data: bytes) -> None:
        self.log.append(self.stream, data)
        self._tail = (self._tail + data)[-TAIL_BYTES:]

    @property
    def tail(self) -> str:
        """The last output written through this object (at most TAIL_BYTES), as text."""
        return self._tail.decode("utf-8", "replace")


def follow(
    path: Path, stream: str | None, finished: Callable[[], bool], *, poll_seconds: float = 0.25
) -> Iterator[bytes]:
    """A stream's output as it is written, until ``finished()`` says the task has ended and
    nothing more is there."""
    offset = 0
    while True:
        done = finished()
        chunk, offset = read_stream(path, stream, offset)
        if chunk:
            yield chunk
            continue
        if done:
            return
        time.sleep(poll_seconds)
