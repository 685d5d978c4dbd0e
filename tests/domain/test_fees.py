"""Kalshi's fee rounding: worked examples and the fees on real recorded fills."""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

from milkbot.domain.fees import FeeModel, FeeType, ceil_to_cent
from milkbot.errors import DataError

D = Decimal
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kalshi"

# Taker fee = ceil_to_cent(0.07 x C x P x (1 - P)), worked by hand:
#   P = 0.05 or 0.95: 0.003325 per contract -> 1: 0.01, 10: 0.03325 -> 0.04, 100: 0.3325 -> 0.34
#   P = 0.50:         0.0175 per contract   -> 1: 0.02, 10: 0.175 -> 0.18,   100: 1.75
TAKER = [
    (1, "0.05", "0.01"),
    (10, "0.05", "0.04"),
    (100, "0.05", "0.34"),
    (1, "0.50", "0.02"),
    (10, "0.50", "0.18"),
    (100, "0.50", "1.75"),
    (1, "0.95", "0.01"),
    (10, "0.95", "0.04"),
    (100, "0.95", "0.34"),
]
# Maker fee (quadratic_with_maker_fees) = ceil_to_cent(0.0175 x C x P x (1 - P)):
#   P = 0.05: 0.00083125 -> 1: 0.01, 10: 0.0083125 -> 0.01, 100: 0.083125 -> 0.09
#   P = 0.50: 0.004375   -> 1: 0.01, 10: 0.04375 -> 0.05,    100: 0.4375 -> 0.44
MAKER = [
    (1, "0.05", "0.01"),
    (10, "0.05", "0.01"),
    (100, "0.05", "0.09"),
    (1, "0.50", "0.01"),
    (10, "0.50", "0.05"),
    (100, "0.50", "0.44"),
    (1, "0.95", "0.01"),
    (10, "0.95", "0.01"),
    (100, "0.95", "0.09"),
]


@pytest.mark.parametrize(("count", "price", "fee"), TAKER)
def test_taker_fee_worked_examples(count, price, fee) -> None:
    assert FeeModel().taker_fee(count, D(price)) == D(fee)
    assert FeeModel().fee(count, D(price), is_taker=True) == D(fee)


@pytest.mark.parametrize(("count", "price", "fee"), MAKER)
def test_maker_fee_worked_examples(count, price, fee) -> None:
    model = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES)
    assert model.maker_fee(count, D(price)) == D(fee)
    assert FeeModel().maker_fee(count, D(price)) == 0  # plain quadratic: makers pay nothing


def test_fee_inputs_are_checked() -> None:
    with pytest.raises(DataError):
        FeeModel().taker_fee(-1, D("0.5"))
    with pytest.raises(DataError):
        FeeModel().taker_fee(1, D("1.5"))
    with pytest.raises(DataError):
        FeeModel.from_series("mystery", 1)


def _fills_with_known_series() -> list[tuple[str, dict, dict]]:
    fills = json.loads((FIXTURES / "real-2026-08_GET-portfolio-fills_redacted.json").read_text())
    series = json.loads((FIXTURES / "real-2026-08_GET-series_fee_fields_sports.json").read_text())
    fees = {k: v["series"] for k, v in series["payloads"].items()}
    out = []
    for f in fills["payload"]["fills"]:
        s = fees.get(f["ticker"].split("-", 1)[0])
        if s is not None:
            out.append((f"{f['ticker']}-{f['count_fp']}@{f['yes_price_dollars']}", f, s))
    return out


KNOWN = _fills_with_known_series()


def test_recorded_fills_with_known_series() -> None:
    assert len(KNOWN) == 11


@pytest.mark.parametrize(("label", "fill", "series"), KNOWN, ids=[k[0] for k in KNOWN])
def test_real_trade_fees_are_the_formula_ceiled_to_a_centicent(label, fill, series) -> None:
    # Kalshi's fee_rounding page: the trade fee is rounded up to $0.0001; the multiplier
    # scales the coefficient before rounding. Every recorded taker fill agrees.
    c, p = D(fill["count_fp"]), D(fill["yes_price_dollars"])
    mult = D(str(series["fee_multiplier"]))
    expected = (D("0.07") * mult * c * p * (1 - p)).quantize(D("0.0001"), ROUND_CEILING)
    assert fill["is_taker"] and D(fill["fee_cost"]) == expected


def _cent_fee_cases() -> list:
    # Includes fills of series with fee_multiplier 0.5, where the multiplier must scale the
    # coefficient before the rounding to the cent.
    return [pytest.param(fill, series, id=label) for label, fill, series in KNOWN]


@pytest.mark.parametrize(("fill", "series"), _cent_fee_cases())
def test_fee_model_gives_the_cent_rounded_real_fee(fill, series) -> None:
    model = FeeModel.from_series(series["fee_type"], series["fee_multiplier"])
    c, p = D(fill["count_fp"]), D(fill["yes_price_dollars"])
    assert model.taker_fee(c, p) == ceil_to_cent(D(fill["fee_cost"]))
