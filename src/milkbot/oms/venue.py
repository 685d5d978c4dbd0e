"""What the OMS needs from an exchange: the execution port every venue adapter fills.

:class:`~milkbot.venues.kalshi.client.KalshiClient` satisfies it as it is (Kalshi demo,
production and the local exchange); the backtest and paper venues implement it in process.
Every method speaks the domain's report types; wire formats stay in the adapters.

Errors: a definite refusal raises :class:`~milkbot.venues.kalshi.client.KalshiRejection`
(``status`` 409 with code ``order_already_exists`` for a reused ``client_order_id``); a
mutation whose outcome is unknown raises :class:`~milkbot.errors.OutcomeUnknownError`; other
transport failures raise :class:`~milkbot.errors.UpstreamError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from milkbot.domain.portfolio import (
    Balance,
    FillReport,
    OrderAck,
    OrderReport,
    OrderRequest,
    PositionReport,
    SettlementReport,
)


class ExecutionVenue(Protocol):
    """The account-side calls of an exchange."""

    async def create_order(self, req: OrderRequest, *, resend_unknown: bool = False) -> OrderAck:
        """Place a limit order; idempotent by ``req.client_order_id``."""
        ...

    async def cancel_order(self, order_id: str, *, ticker: str | None = None) -> OrderAck:
        """Cancel the rest of an order."""
        ...

    async def get_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        min_ts: datetime | None = None,
    ) -> list[OrderReport]:
        """Our orders, optionally filtered."""
        ...

    async def get_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: datetime | None = None,
        max_ts: datetime | None = None,
    ) -> list[FillReport]:
        """Our fills, optionally filtered."""
        ...

    async def get_positions(
        self, *, ticker: str | None = None, event_ticker: str | None = None
    ) -> list[PositionReport]:
        """Our unsettled positions."""
        ...

    async def get_balance(self) -> Balance:
        """Cash balance."""
        ...

    async def get_settlements(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        min_ts: datetime | None = None,
    ) -> list[SettlementReport]:
        """How our positions settled."""
        ...
