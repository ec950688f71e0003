"""Which state changes a run or task may make: the transition table, as data.

A status event is applied only if this table allows it; anything else is a stale or
repeated report and is ignored. Terminal states are final; only a retry (a new
generation) leaves them.
"""

from __future__ import annotations

from domain.states import TERMINAL_STATES, RuntimeState

S = RuntimeState

_ALLOWED: dict[RuntimeState, frozenset[RuntimeState]] = {
    S.RUNTIME_STATE_UNSPECIFIED: frozenset(set(S) - {S.RUNTIME_STATE_UNSPECIFIED}),
    S.PENDING: frozenset({S.RUNNING, S.PAUSED, S.CANCELING} | TERMINAL_STATES),
    S.RUNNING: frozenset({S.PAUSED, S.CANCELING} | TERMINAL_STATES),
    S.PAUSED: frozenset({S.RUNNING, S.CANCELING} | TERMINAL_STATES),
    # A run asked to stop may still finish on its own before it is cancelled.
    S.CANCELING: TERMINAL_STATES,
    S.SUCCEEDED: frozenset(),
    S.SKIPPED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
}


def parse_state(value: str) -> RuntimeState:
    """The RuntimeState for a wire name; ValueError for anything else."""
    return RuntimeState(value)


def can_transition(current: str, new: str) -> bool:
    """True if a run or task in ``current`` may move to ``new``."""
    return parse_state(new) in _ALLOWED[parse_state(current)]


def is_terminal(state: str) -> bool:
    return parse_state(state) in TERMINAL_STATES


def can_retry(state: str) -> bool:
    """Only runs that ended badly are retried."""
    return parse_state(state) in (S.FAILED, S.CANCELED)


def can_terminate(state: str) -> bool:
    return not is_terminal(state) and parse_state(state) is not S.CANCELING
