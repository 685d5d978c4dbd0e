"""Kalshi's trading fee model, read from the series' fee fields.

Taker fee = ceil_to_cent(0.07 x fee_multiplier x C x P x (1 - P)). The multiplier scales the
coefficient before rounding: every recorded real fill agrees (``tests/domain/test_fees.py``).
A maker fee with coefficient 0.0175 applies only to series whose ``fee_type`` says so
(``shared/notes/kalshi-api.md`` section 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from milkbot.errors import DataError

CENT = Decimal("0.01")
TAKER_COEFFICIENT = Decimal("0.07")
MAKER_COEFFICIENT = Decimal("0.0175")


class FeeType(StrEnum):
    """The series ``fee_type`` values Kalshi documents."""

    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"


def ceil_to_cent(amount: Decimal) -> Decimal:
    """Round a dollar amount up to the next whole cent."""
    return amount.quantize(CENT, rounding=ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class FeeModel:
    """The fee schedule of one series."""

    fee_type: FeeType = FeeType.QUADRATIC
    multiplier: Decimal = Decimal(1)

    @classmethod
    def from_series(cls, fee_type: str, fee_multiplier: str | float | int) -> FeeModel:
        """Build from the series' ``fee_type`` and ``fee_multiplier`` wire fields."""
        try:
            ft = FeeType(fee_type)
        except ValueError:
            raise DataError(f"unknown fee_type {fee_type!r}") from None
        return cls(ft, Decimal(str(fee_multiplier)))

    def _check(self, count: Decimal, price: Decimal) -> None:
        if count < 0:
            raise DataError(f"negative contract count {count}")
        if not Decimal(0) <= price <= Decimal(1):
            raise DataError(f"price {price} outside [0, 1] dollars")

    def taker_fee(self, count: Decimal | int, price: Decimal) -> Decimal:
        """Fee in dollars for taking ``count`` contracts at ``price`` dollars."""
        c = Decimal(count)
        self._check(c, price)
        if self.fee_type is FeeType.FLAT:
            raise DataError("the 'flat' fee schedule (Specific Trading Fees Table) is not modelled")
        return ceil_to_cent(TAKER_COEFFICIENT * self.multiplier * c * price * (1 - price))

    def maker_fee(self, count: Decimal | int, price: Decimal) -> Decimal:
        """Fee in dollars for a resting order of ``count`` contracts filled at ``price``."""
        c = Decimal(count)
        self._check(c, price)
        if self.fee_type is FeeType.QUADRATIC_WITH_MAKER_FEES:
            return ceil_to_cent(MAKER_COEFFICIENT * self.multiplier * c * price * (1 - price))
        if self.fee_type is FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES:
            return ceil_to_cent(MAKER_COEFFICIENT * 2 * self.multiplier * c * price * (1 - price))
        return Decimal(0)

    def fee(self, count: Decimal | int, price: Decimal, *, is_taker: bool) -> Decimal:
        """Fee for a fill, taker or maker."""
        return self.taker_fee(count, price) if is_taker else self.maker_fee(count, price)
