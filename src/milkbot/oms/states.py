"""The order state table: every legal (state, event) pair and the state it leads to.

Any pair not in :data:`TRANSITIONS` is illegal: :func:`transition` raises
:class:`~milkbot.errors.OrderStateError` and the caller records the attempt. Two rules shape
the table:

* An order whose request may have reached the exchange is never called failed on a
  timeout: it goes to ``UNKNOWN`` (in flight) until a lookup by ``client_order_id`` says
  what happened. ``UNKNOWN`` and ``SUBMITTED`` block their market for new orders.
* A fill may arrive after a cancel or an expiry (it happened before them on the exchange):
  it is applied and the order stays ``CANCELLED`` / ``EXPIRED``.
"""

from __future__ import annotations

from enum import StrEnum

from milkbot.errors import OrderStateError


class OrderState(StrEnum):
    """Where an order is in its life."""

    SUBMITTED = "submitted"  # persisted, request sent or about to be; no answer yet
    UNKNOWN = "unknown"  # the request may have reached the venue; outcome not known
    ACCEPTED = "accepted"  # resting on the book, nothing filled
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        """Whether the order may still trade."""
        return self in OPEN_STATES

    @property
    def in_flight(self) -> bool:
        """Whether the venue's view of the order is not known yet (blocks its market)."""
        return self in IN_FLIGHT_STATES


class OrderEventKind(StrEnum):
    """What happened to an order."""

    ACCEPTED = "accepted"  # the venue acknowledged it resting
    REJECTED = "rejected"  # the venue refused it definitively
    OUTCOME_UNKNOWN = "outcome_unknown"  # timeout / lost connection / 5xx on a mutation
    RESUBMITTED = "resubmitted"  # a lookup did not find it: the same request is sent again
    FILL_PARTIAL = "fill_partial"  # a fill that leaves a remainder
    FILL_FINAL = "fill_final"  # a fill that completes the order
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_REJECTED = "cancel_rejected"  # the venue refused the cancel: still working
    CANCELLED = "cancelled"  # the venue cancelled the remainder (also IOC remainders)
    EXPIRED = "expired"  # the market closed with the order resting


S = OrderState
E = OrderEventKind

OPEN_STATES = frozenset({S.SUBMITTED, S.UNKNOWN, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL})
IN_FLIGHT_STATES = frozenset({S.SUBMITTED, S.UNKNOWN})
TERMINAL_STATES = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})

_WORKING: dict[OrderEventKind, OrderState] = {
    E.FILL_PARTIAL: S.PARTIALLY_FILLED,
    E.FILL_FINAL: S.FILLED,
    E.CANCEL_REQUESTED: S.PENDING_CANCEL,
    E.CANCELLED: S.CANCELLED,
    E.EXPIRED: S.EXPIRED,
}

TRANSITIONS: dict[tuple[OrderState, OrderEventKind], OrderState] = {
    # in flight
    (S.SUBMITTED, E.ACCEPTED): S.ACCEPTED,
    (S.SUBMITTED, E.REJECTED): S.REJECTED,
    (S.SUBMITTED, E.OUTCOME_UNKNOWN): S.UNKNOWN,
    (S.SUBMITTED, E.FILL_PARTIAL): S.PARTIALLY_FILLED,
    (S.SUBMITTED, E.FILL_FINAL): S.FILLED,
    (S.SUBMITTED, E.CANCELLED): S.CANCELLED,
    (S.SUBMITTED, E.EXPIRED): S.EXPIRED,
    (S.UNKNOWN, E.ACCEPTED): S.ACCEPTED,
    (S.UNKNOWN, E.REJECTED): S.REJECTED,
    (S.UNKNOWN, E.RESUBMITTED): S.SUBMITTED,
    (S.UNKNOWN, E.OUTCOME_UNKNOWN): S.UNKNOWN,
    (S.UNKNOWN, E.FILL_PARTIAL): S.PARTIALLY_FILLED,
    (S.UNKNOWN, E.FILL_FINAL): S.FILLED,
    (S.UNKNOWN, E.CANCELLED): S.CANCELLED,
    (S.UNKNOWN, E.EXPIRED): S.EXPIRED,
    # working
    **{(S.ACCEPTED, e): s for e, s in _WORKING.items()},
    **{(S.PARTIALLY_FILLED, e): s for e, s in _WORKING.items()},
    # a cancel in flight: fills still land; a refused cancel leaves the order working
    (S.PENDING_CANCEL, E.FILL_PARTIAL): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, E.FILL_FINAL): S.FILLED,
    (S.PENDING_CANCEL, E.CANCELLED): S.CANCELLED,
    (S.PENDING_CANCEL, E.EXPIRED): S.EXPIRED,
    (S.PENDING_CANCEL, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, E.CANCEL_REJECTED): S.ACCEPTED,
    (S.PENDING_CANCEL, E.ACCEPTED): S.ACCEPTED,
    # late fills of trades that happened before the cancel or the close
    (S.CANCELLED, E.FILL_PARTIAL): S.CANCELLED,
    (S.CANCELLED, E.FILL_FINAL): S.CANCELLED,
    (S.EXPIRED, E.FILL_PARTIAL): S.EXPIRED,
    (S.EXPIRED, E.FILL_FINAL): S.EXPIRED,
}


def transition(state: OrderState, event: OrderEventKind) -> OrderState:
    """The state after ``event``; raise :class:`OrderStateError` for a pair not in the table."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise OrderStateError(
            f"illegal order transition: {state.value} --{event.value}-->"
        ) from None


def fill_event(remaining_after: object) -> OrderEventKind:
    """``FILL_FINAL`` when nothing remains after the fill, else ``FILL_PARTIAL``."""
    return E.FILL_FINAL if remaining_after == 0 else E.FILL_PARTIAL
