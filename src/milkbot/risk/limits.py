"""Risk configuration: caps, sizing and breaker thresholds, as frozen dataclasses.

The defaults suit a small demo account (about $1,000); every field is documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from milkbot.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CapLimits:
    """Caps on worst-case loss (dollars) per layer, and per-order caps.

    Parameters
    ----------
    per_market : Decimal
        Worst-case loss of one bracket market.
    per_event : Decimal
        Worst-case loss of one event (city-day), over which bracket wins.
    per_city : Decimal
        Sum of the event worst cases of one city (all its open days).
    per_cluster : Decimal
        Sum of the city worst cases of one correlation cluster.
    total : Decimal
        Sum of all event worst cases.
    per_order_notional : Decimal
        Dollars one order may cost (count x price + taker fee).
    per_order_contracts : Decimal
        Contracts one order may carry.
    count_step : Decimal
        Smallest contract increment: 1 for whole contracts, 0.01 for ``_fp`` counts.
    """

    per_market: Decimal = Decimal("50")
    per_event: Decimal = Decimal("80")
    per_city: Decimal = Decimal("150")
    per_cluster: Decimal = Decimal("250")
    total: Decimal = Decimal("500")
    per_order_notional: Decimal = Decimal("40")
    per_order_contracts: Decimal = Decimal("500")
    count_step: Decimal = Decimal("1")

    def __post_init__(self) -> None:
        for name in (
            "per_market",
            "per_event",
            "per_city",
            "per_cluster",
            "total",
            "per_order_notional",
            "per_order_contracts",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"cap {name} is negative")
        if self.count_step not in (Decimal("1"), Decimal("0.01")):
            raise ConfigError("count_step must be 1 or 0.01")


@dataclass(frozen=True, slots=True)
class SizingConfig:
    """Fee-aware fractional Kelly parameters.

    Parameters
    ----------
    kelly_fraction : float
        Fraction of the full-Kelly stake (0.25 = quarter Kelly).
    min_edge : Decimal
        Minimum edge after fees per contract: probability minus all-in cost (dollars).
    max_fraction_per_event : float
        Ceiling on the bankroll fraction staked on one event after the Kelly fraction.
    shrink_to_market : bool
        Shrink the model probability toward the market mid by its uncertainty.
    """

    kelly_fraction: float = 0.25
    min_edge: Decimal = Decimal("0.03")
    max_fraction_per_event: float = 0.10
    shrink_to_market: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.kelly_fraction <= 1:
            raise ConfigError("kelly_fraction must be in (0, 1]")
        if self.min_edge < 0:
            raise ConfigError("min_edge must be >= 0")
        if not 0 < self.max_fraction_per_event <= 1:
            raise ConfigError("max_fraction_per_event must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    """Circuit-breaker thresholds. Every breaker latches until an operator resets it.

    Parameters
    ----------
    daily_loss : Decimal
        Loss (realized plus marked) since 00:00 America/New_York that halts new orders.
    drawdown_reducing, drawdown_halted : Decimal
        Fractional drawdowns from the high-water mark that switch to REDUCING and HALTED.
    city_daily_loss, cluster_daily_loss : Decimal
        Loss since 00:00 America/New_York of one city / one cluster that switches that
        scope to REDUCING.
    confirmations : int
        Consecutive breaching equity observations needed before a loss breaker trips.
    max_quote_age, max_forecast_age : timedelta
        Oldest usable order book and forecast; older data halts the market or city.
    error_rate : float
        Fraction of failed order requests over the window that halts trading.
    error_window : int
        Number of most recent order requests the error rate is measured over.
    min_error_attempts : int
        Attempts needed in the window before the error rate can trip.
    """

    daily_loss: Decimal = Decimal("100")
    drawdown_reducing: Decimal = Decimal("0.10")
    drawdown_halted: Decimal = Decimal("0.20")
    city_daily_loss: Decimal = Decimal("40")
    cluster_daily_loss: Decimal = Decimal("70")
    confirmations: int = 1
    max_quote_age: timedelta = timedelta(minutes=2)
    max_forecast_age: timedelta = timedelta(hours=8)
    error_rate: float = 0.25
    error_window: int = 40
    min_error_attempts: int = 20

    def __post_init__(self) -> None:
        if self.daily_loss <= 0:
            raise ConfigError("daily_loss must be positive")
        if not 0 < self.drawdown_reducing <= self.drawdown_halted < 1:
            raise ConfigError("need 0 < drawdown_reducing <= drawdown_halted < 1")
        if self.city_daily_loss <= 0 or self.cluster_daily_loss <= 0:
            raise ConfigError("city_daily_loss and cluster_daily_loss must be positive")
        if self.confirmations < 1:
            raise ConfigError("confirmations must be >= 1")
        if not 0 < self.error_rate <= 1:
            raise ConfigError("error_rate must be in (0, 1]")
        if self.min_error_attempts < 1 or self.error_window < self.min_error_attempts:
            raise ConfigError("need 1 <= min_error_attempts <= error_window")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """All risk configuration in one value."""

    caps: CapLimits = CapLimits()
    sizing: SizingConfig = SizingConfig()
    breakers: BreakerLimits = BreakerLimits()
