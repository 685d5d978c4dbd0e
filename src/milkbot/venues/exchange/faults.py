"""Fault injection for the local exchange: HTTP errors, latency, lost responses, WS chaos.

Every decision draws from one injected ``random.Random`` so a seeded run is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Rates (probabilities 0..1 per request or per message) and latency of injected faults.

    Parameters
    ----------
    http_5xx_rate : float
        Requests answered 503 before they reach the engine (nothing happened).
    http_429_rate : float
        Requests answered 429 ``too many requests`` before they reach the engine.
    latency_ms : tuple[float, float]
        Uniform extra delay range added to every REST response.
    lost_response_rate : float
        Order mutations (create, cancel, amend, decrease, batch) that take effect but
        whose response is replaced by a 504: the client cannot know the outcome.
    ws_drop_rate : float
        Per outgoing data message, the chance the server closes the WebSocket instead.
    ws_duplicate_rate : float
        Per outgoing data message, the chance it is sent twice.
    ws_reorder_rate : float
        Per outgoing data message, the chance it is held back and sent after the next one.
    ws_seq_gap_rate : float
        Per outgoing sequenced message, the chance its ``seq`` number is skipped (the
        message is not sent but the counter advances), as after a lost frame.
    seed : int
        Seed of the fault generator.
    """

    http_5xx_rate: float = 0.0
    http_429_rate: float = 0.0
    latency_ms: tuple[float, float] = (0.0, 0.0)
    lost_response_rate: float = 0.0
    ws_drop_rate: float = 0.0
    ws_duplicate_rate: float = 0.0
    ws_reorder_rate: float = 0.0
    ws_seq_gap_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "http_5xx_rate",
            "http_429_rate",
            "lost_response_rate",
            "ws_drop_rate",
            "ws_duplicate_rate",
            "ws_reorder_rate",
            "ws_seq_gap_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value}")
        low, high = self.latency_ms
        if low < 0 or high < low:
            raise ValueError(f"bad latency range {self.latency_ms}")

    @property
    def active(self) -> bool:
        """True when any fault can fire."""
        return any(
            (
                self.http_5xx_rate,
                self.http_429_rate,
                self.latency_ms[1],
                self.lost_response_rate,
                self.ws_drop_rate,
                self.ws_duplicate_rate,
                self.ws_reorder_rate,
                self.ws_seq_gap_rate,
            )
        )


@dataclass
class FaultInjector:
    """Draws fault decisions from a :class:`FaultConfig` and a seeded generator."""

    config: FaultConfig = field(default_factory=FaultConfig)
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        if self.rng is None:
            self.rng = random.Random(self.config.seed)

    def _hit(self, rate: float) -> bool:
        assert self.rng is not None
        return rate > 0 and self.rng.random() < rate

    def http_error(self) -> int | None:
        """Return 503 or 429 when the request must fail before processing, else None."""
        if self._hit(self.config.http_5xx_rate):
            return 503
        if self._hit(self.config.http_429_rate):
            return 429
        return None

    def latency_seconds(self) -> float:
        """Return the extra delay to add to a response, in seconds."""
        low, high = self.config.latency_ms
        if high <= 0:
            return 0.0
        assert self.rng is not None
        return self.rng.uniform(low, high) / 1000.0

    def lose_response(self) -> bool:
        """Decide whether an accepted mutation's response is lost."""
        return self._hit(self.config.lost_response_rate)

    def ws_drop(self) -> bool:
        """Decide whether to drop the WebSocket connection now."""
        return self._hit(self.config.ws_drop_rate)

    def ws_duplicate(self) -> bool:
        """Decide whether to send a message twice."""
        return self._hit(self.config.ws_duplicate_rate)

    def ws_reorder(self) -> bool:
        """Decide whether to hold a message back behind the next one."""
        return self._hit(self.config.ws_reorder_rate)

    def ws_seq_gap(self) -> bool:
        """Decide whether to skip a sequence number (drop the frame)."""
        return self._hit(self.config.ws_seq_gap_rate)
