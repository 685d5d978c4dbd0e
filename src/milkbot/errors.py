"""The one error hierarchy of Milkbot.

Every exception Milkbot raises on purpose derives from :class:`MilkbotError`; the class
docstrings state the handling policy.

* MilkbotError
  + ConfigError               stop: the operator must fix the configuration
  + DataError                 the input is malformed; never guess a value
    - ParseError              a wire payload or report could not be parsed
    - DatasetError            a dataset directory does not follow the documented layout
  + UpstreamError             a peer (Kalshi, NWS, Open-Meteo) misbehaved
    - TransientUpstreamError  retry with backoff
    - OutcomeUnknownError     a request may or may not have taken effect: reconcile, never assume
  + RiskRejection             the risk engine denied an order (carries a reason code)
  + OrderStateError           an illegal order state transition: reconcile
  + StorageError              the database is unreachable or not migrated
"""

from __future__ import annotations


class MilkbotError(Exception):
    """Base class of every error Milkbot raises on purpose."""


class ConfigError(MilkbotError):
    """The configuration is invalid or unsafe. Requires operator action; the process stops."""


class DataError(MilkbotError):
    """An input is malformed. The offending value is never replaced by a guess."""


class ParseError(DataError):
    """A wire payload, report or file could not be parsed into a domain value."""


class DatasetError(DataError):
    """A dataset directory does not follow the layout of the data README."""


class UpstreamError(MilkbotError):
    """A network peer returned an error or an unusable answer."""


class TransientUpstreamError(UpstreamError):
    """A temporary peer failure (5xx, 429, timeout before send). Retry with backoff."""


class OutcomeUnknownError(UpstreamError):
    """A request was sent but its outcome is unknown (timeout, lost connection).

    The request may have taken effect. Callers must reconcile (look the order up by its
    client order id) and must never treat this as a failure.
    """


class RiskRejection(MilkbotError):
    """The risk engine denied an order. ``reason`` is a stable reason code."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


class OrderStateError(MilkbotError):
    """An order event does not fit the order's current state. Reconcile with the exchange."""


class StorageError(MilkbotError):
    """The database is unreachable, locked by another trader, or not migrated."""
