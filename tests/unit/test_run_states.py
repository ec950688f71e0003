from __future__ import annotations

import pytest

from api_server.services import run_states
from domain.states import RuntimeState as S


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.RUNNING),
        (S.PENDING, S.CANCELED),
        (S.RUNNING, S.SUCCEEDED),
        (S.RUNNING, S.CANCELING),
        (S.PAUSED, S.RUNNING),
        (S.CANCELING, S.CANCELED),
        (S.CANCELING, S.SUCCEEDED),
    ],
)
def test_forward_transitions_are_allowed(current: S, new: S) -> None:
    assert run_states.can_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.RUNNING, S.PENDING),
        (S.SUCCEEDED, S.RUNNING),
        (S.FAILED, S.SUCCEEDED),
        (S.CANCELED, S.RUNNING),
        (S.CANCELING, S.RUNNING),
        (S.RUNNING, S.RUNTIME_STATE_UNSPECIFIED),
    ],
)
def test_backward_or_post_terminal_transitions_are_refused(current: S, new: S) -> None:
    assert not run_states.can_transition(current, new)


def test_terminal_states_are_final_and_only_failures_retry() -> None:
    assert {s for s in S if run_states.is_terminal(s)} == {
        S.SUCCEEDED,
        S.SKIPPED,
        S.FAILED,
        S.CANCELED,
    }
    assert {s for s in S if run_states.can_retry(s)} == {S.FAILED, S.CANCELED}
    assert not run_states.can_terminate(S.CANCELING)
    assert run_states.can_terminate(S.PENDING)


def test_unknown_state_names_raise() -> None:
    with pytest.raises(ValueError):
        run_states.can_transition("RUNNING", "EXPLODED")


def test_the_transition_look_up_agrees_with_the_table_for_every_pair() -> None:
    """``can_transition`` answers from a set of name pairs; it must say what the table of
    enum members says, for members and for plain names alike."""
    for current in S:
        for new in S:
            expected = new in run_states._ALLOWED[current]
            assert run_states.can_transition(current, new) is expected
            assert run_states.can_transition(current.value, new.value) is expected
    assert all(run_states.is_state(state.value) for state in S)
    assert not run_states.is_state("EXPLODED")
    with pytest.raises(ValueError):
        run_states.can_transition("EXPLODED", "RUNNING")
