"""A run's task details written as JSON straight from their stored rows.

``GET /runs/{id}`` of a run with thousands of tasks (a ParallelFor) spent most of its time
decoding each task row into a ``Task``, building a ``TaskOut`` from it, and encoding that
again: 230 ms for 2,000 tasks on the benchmark VM, every time a client polls the run. The
stored form is already nearly the wire form: JSON columns are compact JSON text, times are
microseconds. :func:`task_details_json` writes the same JSON ``TaskOut`` writes (same
fields, same order, unset ones left out) from :class:`StoredTask` rows, decoding only what
differs: the state history, errors, and a JSON column holding a non-finite number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii as _quote
from operator import itemgetter

import pydantic_core

from api_server.storage.runs import StoredTask, child_task_ids
from domain.resources import Run, Status

from .base import StatusOut
from .runs import RunOut

_EPOCH = datetime(1970, 1, 1)


def run_json(run: Run, tasks: Sequence[StoredTask]) -> str:
    """GetRun's body: ``RunOut`` of ``run`` with ``tasks`` as its task details (the run's
    own ``tasks`` are not read). ``run_details`` comes last: key order is not JSON's."""
    body = RunOut.from_domain(replace(run, tasks=None)).model_dump_json(exclude_none=True)
    details = '{"task_details":' + task_details_json(tasks) + "}" if tasks else "{}"
    return body[:-1] + ',"run_details":' + details + "}"


def task_details_json(tasks: Sequence[StoredTask]) -> str:
    """The JSON array of ``tasks`` as ``[TaskOut.from_domain(t) ...]`` dumps it."""
    children = child_task_ids(tasks)
    return "[" + ",".join([_task(task, children.get(task.task_id)) for task in tasks]) + "]"


def _task(t: StoredTask, children: list[str] | None) -> str:
    parts = [
        '{"run_id":',
        _quote(t.run_id),
        ',"task_id":',
        _quote(t.task_id),
        ',"display_name":',
        _quote(t.display_name),
        ',"create_time":',
        _time(t.create_time),
    ]
    if t.start_time is not None:
        parts += (',"start_time":', _time(t.start_time))
    if t.end_time is not None:
        parts += (',"end_time":', _time(t.end_time))
    if t.executor_detail is not None:
        parts += (',"executor_detail":', _json(t.executor_detail))
    parts += (',"state":', _quote(t.state))
    if t.execution_id is not None:
        parts += (',"execution_id":', _quote(t.execution_id))
    error = _status(t.error)
    if error is not None:
        parts += (',"error":', error)
    if t.inputs is not None:
        parts += (',"inputs":', _json(t.inputs))
    if t.outputs is not None:
        parts += (',"outputs":', _json(t.outputs))
    if t.parent_task_id is not None:
        parts += (',"parent_task_id":', _quote(t.parent_task_id))
    if t.history_json:
        history = _history(t.history_json)
        if history:
            parts += (',"state_history":', history)
    if t.pod_name is not None:
        parts += (',"pod_name":', _quote(t.pod_name))
    if children:
        parts += (
            ',"child_tasks":[',
            ",".join(['{"task_id":' + _quote(child) + "}" for child in children]),
            "]",
        )
    parts.append("}")
    return "".join(parts)


def _time(micros: int) -> str:
    """A stored time as pydantic writes an aware UTC datetime (no fraction when whole).
    The tasks of a run share their seconds: each second's text is made once."""
    seconds, fraction = divmod(int(micros), 1_000_000)
    text = _SECONDS.get(seconds)
    if text is None:
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        text = _SECONDS[seconds] = '"' + (_EPOCH + timedelta(seconds=seconds)).isoformat()
    return f'{text}.{fraction:06d}Z"' if fraction else text + 'Z"'


_SECONDS: dict[int, str] = {}
_SECONDS_KEPT = 4096


def _json(text: str) -> str:
    """A JSON column as stored: compact JSON, except that Python's encoder writes NaN and
    Infinity, which are not JSON; the wire model writes them as null."""
    if "NaN" in text or "Infinity" in text:
        return pydantic_core.to_json(json.loads(text), inf_nan_mode="null").decode()
    return text


def _status(text: str | None) -> str | None:
    """A stored error as ``StatusOut`` writes it (None: none to write)."""
    if text is None:
        return None
    status = StatusOut.from_domain(Status.from_json(json.loads(text)))
    return None if status is None else status.model_dump_json(exclude_none=True)


def _history(rows_json: str) -> str:
    """``json_rows(id, state, update_time, error)`` as ``[RuntimeStatusOut, ...]``, in the
    order the rows were written."""
    entries = []
    for _, state, update_time, error in sorted(json.loads(rows_json), key=itemgetter(0)):
        entry = '{"update_time":' + _time(update_time) + ',"state":' + _quote(state)
        status = _status(error)
        if status is not None:
            entry += ',"error":' + status
        entries.append(entry + "}")
    return "[" + ",".join(entries) + "]" if entries else ""
