"""Fee-aware fractional Kelly: worked examples computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import Action, BracketOpportunity, EventOpportunity, Side
from milkbot.risk.limits import SizingConfig
from milkbot.risk.sizing import (
    all_in_cost,
    count_for_stake,
    horse_race_kelly,
    kelly_binary,
    leg_to_intent,
    log_growth,
    shrink_probability,
    size_event,
)

CLOSE = datetime(2025, 3, 2, 5, tzinfo=UTC)
FEES = FeeModel()
NO_FEES = FeeModel(multiplier=D(0))


def opp(ticker: str, p: float, bid: str | None, ask: str | None, *, sd: float = 0.0, **kw):
    args = {
        "market_ticker": ticker,
        "event_ticker": "KXHIGHNY-25MAR01",
        "city": "NYC",
        "bracket_index": 0,
        "probability": p,
        "probability_sd": sd,
        "yes_bid": None if bid is None else D(bid),
        "yes_ask": None if ask is None else D(ask),
        "yes_bid_size": D(1000),
        "yes_ask_size": D(1000),
        "fee_model": FEES,
        "close_time": CLOSE,
    }
    args.update(kw)
    return BracketOpportunity(**args)


def event(*brackets: BracketOpportunity, exhaustive: bool = False) -> EventOpportunity:
    return EventOpportunity("KXHIGHNY-25MAR01", "NYC", brackets, exhaustive)


def test_all_in_cost_includes_the_rounded_up_fee() -> None:
    # 10 contracts at $0.50: fee = ceil(0.07 * 10 * 0.5 * 0.5) = ceil(0.175) = $0.18
    # -> cost per contract 0.50 + 0.018 = 0.518
    assert all_in_cost(D("0.50"), D(10), FEES) == D("0.518")
    # 1 contract: fee = ceil(0.0175) = $0.02 -> 0.52
    assert all_in_cost(D("0.50"), D(1), FEES) == D("0.52")


def test_kelly_binary_with_fee() -> None:
    # f* = (q - c) / (1 - c) = (0.60 - 0.5175) / 0.4825 = 0.170984...
    assert kelly_binary(0.60, 0.5175) == pytest.approx(0.0825 / 0.4825)
    assert kelly_binary(0.50, 0.52) == 0.0
    assert kelly_binary(0.9, 1.0) == 0.0


def test_shrink_toward_market_by_uncertainty() -> None:
    # edge 0.10, sd 0.10: weight 0.01 / (0.01 + 0.01) = 0.5 -> 0.55
    assert shrink_probability(0.60, 0.10, 0.50) == pytest.approx(0.55)
    assert shrink_probability(0.60, 0.0, 0.50) == 0.60
    assert shrink_probability(0.60, 0.2, None) == 0.60
    # a large sd leaves almost no edge
    assert shrink_probability(0.60, 1.0, 0.50) == pytest.approx(0.50 + 0.1 * 0.01 / 1.01)


def test_count_for_stake_iterates_the_fee() -> None:
    # stake $41.67 at $0.50: 83 contracts cost 41.50 + ceil(1.4525)=1.46 = 42.96 > 41.67;
    # next guess floor((41.67 - 1.46) / 0.5) = 80: 40.00 + ceil(1.40) = 41.40 <= 41.67
    assert count_for_stake(D("41.67"), D("0.50"), FEES, D(1)) == D(80)
    # _fp counts: $10 at $0.50 -> 20 costs 10.35; floor((10 - 0.35)/0.5) = 19.30 costs
    # 9.65 + ceil(0.33775) = 9.99 <= 10
    assert count_for_stake(D(10), D("0.50"), FEES, D("0.01")) == D("19.30")
    assert count_for_stake(D("0.01"), D("0.50"), FEES, D(1)) == 0


def test_worked_single_yes_bet_quarter_kelly() -> None:
    """q=0.60, ask $0.50, bankroll $1000, quarter Kelly, min edge 3c.

    Round 1 (cost at 1 contract, fee 2c): c=0.52, f*=0.08/0.48=0.16667, stake $41.67 -> 80.
    Round 2 (fee at 80 = ceil(1.40) = 1.40): c=0.5175, f*=0.170984, stake $42.75:
      85 costs 42.50+1.49 > 42.75 -> floor((42.746-1.49)/0.5) = 82 costs 41.00+1.44 = 42.44.
    Round 3 (fee at 82 = ceil(1.435) = 1.44): c=0.517561, f*=0.170880, stake $42.72 -> 82.
    Stable: 82 contracts, edge 0.60 - 0.517561 = 0.0824 >= 0.03.
    """
    res = size_event(
        event(opp("B3", 0.60, None, "0.50")),
        D(1000),
        SizingConfig(kelly_fraction=0.25, min_edge=D("0.03")),
    )
    assert res.plan == "yes-set"
    (leg,) = res.legs
    assert leg.side is Side.YES
    assert leg.count == D(82)
    assert leg.limit_price == D("0.50")
    assert leg.cost_per_contract == D("0.50") + D("1.44") / D(82)
    assert leg.kelly_full == pytest.approx((0.60 - 0.5175610) / (1 - 0.5175610), rel=1e-5)
    assert leg.edge == D("0.6") - leg.cost_per_contract


def test_worked_single_no_bet() -> None:
    """q(YES)=0.20 so q(NO)=0.80; YES bid $0.30 -> NO ask $0.70; bankroll $100, quarter Kelly.

    Round 1: fee(1) = ceil(0.0147) = 2c, c=0.72, f*=0.08/0.28=0.2857, stake $7.14:
      10 cost 7.00 + ceil(0.147)=0.15 = 7.15 > 7.14 -> 9 cost 6.30 + 0.14 = 6.44.
    Round 2: c = 0.70 + 0.14/9 = 0.715556, f* = 0.296875, stake $7.42 -> 10 (7.15).
    Round 3: c = 0.715, f* = 0.085/0.285 = 0.298246, stake $7.46 -> 10. Stable.
    """
    res = size_event(
        event(opp("B0", 0.20, "0.30", "0.33")),
        D(100),
        SizingConfig(kelly_fraction=0.25, min_edge=D("0.03")),
    )
    assert res.plan == "no:B0"
    (leg,) = res.legs
    assert (leg.side, leg.count, leg.limit_price) == (Side.NO, D(10), D("0.70"))
    assert leg.cost_per_contract == D("0.715")
    assert leg.probability == pytest.approx(0.80)


def test_horse_race_kelly_by_hand() -> None:
    """q = (0.5, 0.3, 0.2), costs (0.40, 0.30, 0.35); ratios 1.25, 1.0, 0.571.

    Add #0: R = (1 - 0.5) / (1 - 0.4) = 0.8333; #1: 1.0 > R -> R = 0.2 / 0.3 = 0.6667;
    #2: 0.571 < R -> stop. f0 = 0.5 - 0.6667*0.4 = 0.23333, f1 = 0.3 - 0.6667*0.3 = 0.1.
    """
    fractions, reserve = horse_race_kelly([0.5, 0.3, 0.2], [0.40, 0.30, 0.35])
    assert reserve == pytest.approx(2 / 3)
    assert fractions == pytest.approx([0.5 - 0.4 * 2 / 3, 0.1, 0.0])
    # One bet reduces to the binary formula.
    (f,), _ = horse_race_kelly([0.6], [0.5175])
    assert f == pytest.approx(kelly_binary(0.6, 0.5175))


def test_joint_sizing_of_exclusive_brackets_without_fees() -> None:
    # Full Kelly on $300 with no fees: stakes 0.23333*300 = $70 -> 175 at 0.40; 0.1*300 = $30
    # -> 100 at 0.30. The third bracket is not bought.
    brackets = (
        opp("B0", 0.5, None, "0.40", fee_model=NO_FEES),
        opp("B1", 0.3, None, "0.30", fee_model=NO_FEES),
        opp("B2", 0.2, None, "0.35", fee_model=NO_FEES),
    )
    cfg = SizingConfig(kelly_fraction=1.0, min_edge=D(0), max_fraction_per_event=1.0)
    res = size_event(event(*brackets, exhaustive=True), D(300), cfg)
    assert {leg.market_ticker: leg.count for leg in res.legs} == {"B0": D(175), "B1": D(100)}
    assert res.reserve_rate == pytest.approx(2 / 3)
    # With a 3c minimum edge B1 (edge 0) drops out and B0 is sized alone:
    # f = (0.5 - 0.4) / 0.6 = 1/6 -> $50 -> 125 contracts.
    res2 = size_event(event(*brackets, exhaustive=True), D(300), SizingConfig(1.0, D("0.03"), 1.0))
    assert [(leg.market_ticker, leg.count) for leg in res2.legs] == [("B0", D(125))]


def test_joint_sizing_differs_from_independent_kelly() -> None:
    """q = (0.45, 0.45, 0.10), costs (0.30, 0.30, 0.45), no fees, full Kelly, $1000.

    Alone, B0 gets f = (0.45 - 0.30) / 0.70 = 0.2143 -> $214.28 -> 714 contracts.
    Jointly: add B0 -> R = 0.55 / 0.70; add B1 -> R = 0.10 / 0.40 = 0.25; B2's ratio
    0.10 / 0.45 = 0.22 < R -> stop. f0 = f1 = 0.45 - 0.25 * 0.30 = 0.375 -> $375 -> 1250 each:
    the two brackets hedge each other, so each is staked more than alone.
    """
    brackets = tuple(
        opp(t, q, None, a, fee_model=NO_FEES, yes_ask_size=D(5000))
        for t, q, a in (("B0", 0.45, "0.30"), ("B1", 0.45, "0.30"), ("B2", 0.10, "0.45"))
    )
    cfg = SizingConfig(kelly_fraction=1.0, min_edge=D("0.01"), max_fraction_per_event=1.0)
    joint = size_event(event(*brackets, exhaustive=True), D(1000), cfg)
    alone = size_event(event(brackets[0]), D(1000), cfg)
    assert {leg.market_ticker: leg.count for leg in joint.legs} == {"B0": D(1250), "B1": D(1250)}
    assert alone.legs[0].count == D(714)


def test_event_budget_and_correlation_scale_shrink_the_stake() -> None:
    e = event(opp("B3", 0.60, None, "0.50"))
    base = size_event(e, D(1000), SizingConfig(kelly_fraction=0.25, min_edge=D("0.03")))
    half = size_event(
        e, D(1000), SizingConfig(kelly_fraction=0.25, min_edge=D("0.03")), correlation_scale=0.5
    )
    # half the Kelly stake: 0.125 * 0.1709 * 1000 = $21.4 -> 41 at 0.50 + ceil(0.7175)=0.72
    assert half.legs[0].count == D(41)
    assert half.legs[0].count < base.legs[0].count
    capped = size_event(
        e,
        D(1000),
        SizingConfig(kelly_fraction=1.0, min_edge=D("0.03"), max_fraction_per_event=0.02),
    )
    # $20 budget: 40 at 0.50 cost 20 + 0.70 > 20 -> 38 cost 19 + ceil(0.665)=0.67 = 19.67
    assert capped.legs[0].count == D(38)


def test_depth_limits_the_count() -> None:
    res = size_event(
        event(opp("B3", 0.60, None, "0.50", yes_ask_size=D(7))),
        D(1000),
        SizingConfig(kelly_fraction=0.25, min_edge=D("0.03")),
    )
    assert res.legs[0].count == D(7)


def test_no_trade_without_edge_after_fees() -> None:
    # q = 0.52 at ask 0.50: cost at any count >= 0.5175 -> edge < 3c
    res = size_event(event(opp("B3", 0.52, None, "0.50")), D(1000), SizingConfig())
    assert res.legs == ()
    assert res.plan == "none"


def test_uncertainty_shrinks_the_bet() -> None:
    sure = size_event(event(opp("B3", 0.65, "0.48", "0.50")), D(1000), SizingConfig())
    unsure = size_event(event(opp("B3", 0.65, "0.48", "0.50", sd=0.15)), D(1000), SizingConfig())
    assert unsure.legs[0].count < sure.legs[0].count


def test_leg_to_intent() -> None:
    b = opp("B3", 0.60, None, "0.50")
    res = size_event(event(b), D(1000), SizingConfig())
    intent = leg_to_intent(res.legs[0], b, "intent-1")
    assert intent.action is Action.BUY
    assert intent.count == res.legs[0].count
    assert intent.model_probability == res.legs[0].probability


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.01, 1.0), st.integers(2, 98)), min_size=1, max_size=6),
)
def test_horse_race_is_log_optimal_locally(pairs) -> None:
    total = sum(w for w, _ in pairs)
    qs = [w / total for w, _ in pairs]
    costs = [c / 100 for _, c in pairs]
    fractions, _ = horse_race_kelly(qs, costs)
    assert all(f >= 0 for f in fractions)
    assert sum(fractions) <= 1.0 + 1e-9
    best = log_growth(qs, fractions, costs)
    assert best >= -1e-12
    # No small perturbation of the stakes improves the expected log growth.
    for i in range(len(qs)):
        for eps in (-1e-3, 1e-3):
            trial = list(fractions)
            trial[i] = max(0.0, trial[i] + eps)
            if sum(trial) < 1.0:
                assert log_growth(qs, trial, costs) <= best + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    st.floats(0.02, 0.98),
    st.floats(0.0, 0.2),
    st.integers(2, 97),
    st.integers(1, 2000),
    st.sampled_from([D(1), D("0.01")]),
)
def test_sized_legs_respect_edge_budget_and_depth(p, sd, ask_cents, depth, step) -> None:
    ask = D(ask_cents) / 100
    b = opp("B", p, str(ask - D("0.01")) if ask_cents > 2 else None, str(ask), sd=sd)
    b = BracketOpportunity(
        **{
            **{f: getattr(b, f) for f in b.__slots__},
            "yes_ask_size": D(depth),
            "yes_bid_size": D(depth),
        }
    )
    cfg = SizingConfig()
    res = size_event(event(b), D(1000), cfg, count_step=step)
    for leg in res.legs:
        assert leg.count > 0 and leg.count % step == 0
        assert leg.count <= depth
        assert leg.edge >= cfg.min_edge
        assert leg.count * leg.cost_per_contract <= D(1000) * D(repr(cfg.max_fraction_per_event))
        assert leg.cost_per_contract == all_in_cost(leg.limit_price, leg.count, FEES)
