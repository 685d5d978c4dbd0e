"""The order state table: legal paths, illegal transitions, late fills."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milkbot.errors import OrderStateError
from milkbot.oms.states import (
    IN_FLIGHT_STATES,
    OPEN_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    OrderEventKind,
    OrderState,
    transition,
)

S, E = OrderState, OrderEventKind


def test_every_state_is_open_or_terminal() -> None:
    assert set(OrderState) == OPEN_STATES | TERMINAL_STATES
    assert not OPEN_STATES & TERMINAL_STATES


def test_a_fill_after_a_cancel_is_legal_and_keeps_the_order_cancelled() -> None:
    assert transition(S.CANCELLED, E.FILL_PARTIAL) is S.CANCELLED
    assert transition(S.CANCELLED, E.FILL_FINAL) is S.CANCELLED
    assert transition(S.PENDING_CANCEL, E.FILL_FINAL) is S.FILLED


def test_a_timeout_never_fails_an_order() -> None:
    assert transition(S.SUBMITTED, E.OUTCOME_UNKNOWN) is S.UNKNOWN
    assert S.UNKNOWN.in_flight and S.UNKNOWN.is_open
    assert all(
        target is not S.REJECTED for (_, e), target in TRANSITIONS.items() if e is E.OUTCOME_UNKNOWN
    )


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.FILLED, E.FILL_PARTIAL),
        (S.FILLED, E.CANCELLED),
        (S.REJECTED, E.ACCEPTED),
        (S.CANCELLED, E.ACCEPTED),
        (S.ACCEPTED, E.RESUBMITTED),
        (S.ACCEPTED, E.REJECTED),
    ],
)
def test_illegal_transitions_raise(state: OrderState, event: OrderEventKind) -> None:
    with pytest.raises(OrderStateError, match="illegal order transition"):
        transition(state, event)


def test_terminal_states_accept_only_late_fills() -> None:
    for (state, event), target in TRANSITIONS.items():
        if state in TERMINAL_STATES:
            assert event in (E.FILL_PARTIAL, E.FILL_FINAL) and target is state


@given(st.lists(st.sampled_from(list(OrderEventKind)), max_size=30))
def test_random_event_sequences_keep_the_invariants(events: list[OrderEventKind]) -> None:
    """Any sequence: out-of-table pairs raise, terminal states never change, a timeout
    only ever leaves the order in flight."""
    state = S.SUBMITTED
    for event in events:
        if (state, event) not in TRANSITIONS:
            with pytest.raises(OrderStateError):
                transition(state, event)
            continue
        new = transition(state, event)
        if state in TERMINAL_STATES:
            assert new is state
        if event is E.OUTCOME_UNKNOWN:
            assert new in IN_FLIGHT_STATES
        state = new
