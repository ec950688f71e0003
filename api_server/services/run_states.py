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


# The table as pairs of names (a StrEnum member hashes as its name): one set look-up per
# task event instead of two enum look-ups.
_ALLOWED_PAIRS = frozenset((old.value, new.value) for old, news in _ALLOWED.items() for new in news)
_NAMES = frozenset(state.value for state in S)


def parse_state(value: str) -> RuntimeState:
    """The RuntimeState for a wire name; ValueError for anything else."""
    return RuntimeState(value)


def is_state(value: str) -> bool:
    """True if ``value`` names a state."""
    return value in _NAMES


def can_transition(current: str, new: str) -> bool:
    """True if a run or task in ``current`` may move to ``new``."""
    if (current, new) in _ALLOWED_PAIRS:
        return True
    parse_state(current), parse_state(new)  # unknown names raise ValueError
    return False


def is_terminal(state: str) -> bool:
    return parse_state(state) in TERMINAL_STATES


def can_retry(state: str) -> bool:
    """Only runs that ended badly are retried."""
    return parse_state(state) in (S.FAILED, S.CANCELED)


def can_terminate(state: str) -> bool:
    return not is_terminal(state) and parse_state(state) is not S.CANCELING
