"""Market strategy: denoised prices, conditional-logit recalibration, incomplete listings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from milkbot.domain.brackets import Bracket
from milkbot.features.event import Event, EventFeatures, MarketPrice, TradePrint
from milkbot.strategies.base import History
from milkbot.strategies.market import (
    HALF_SPREAD,
    MarketStrategy,
    bracket_prices,
    design,
    disjoint,
    fit_coefficients,
    price_lags,
)
from tests.conftest import six_brackets

SIX = six_brackets()
CLOSE = datetime(2025, 2, 11, 4, 59, tzinfo=UTC)
T = datetime(2025, 2, 10, 16, 59, tzinfo=UTC)


def _features(
    market: tuple[MarketPrice, ...], brackets: tuple[Bracket, ...] = SIX
) -> EventFeatures:
    return EventFeatures(
        event_ticker="E",
        city="NYC",
        station="KNYC",
        event_date=date(2025, 2, 10),
        decision_time=T,
        close_time=CLOSE,
        std_offset_hours=-5,
        tickers=tuple(f"E-{i}" for i in range(len(brackets))),
        brackets=brackets,
        market=market,
    )


def _event(outcomes: tuple[int, ...], brackets: tuple[Bracket, ...] = SIX) -> Event:
    return Event(
        event_ticker="E",
        city="NYC",
        station="KNYC",
        event_date=date(2025, 2, 10),
        close_time=CLOSE,
        std_offset_hours=-5,
        tickers=tuple(f"E-{i}" for i in range(len(brackets))),
        brackets=brackets,
        outcomes=outcomes,
        settled_value=None,
    )


def _trade(prob: float, prints: list[TradePrint] | None = None, age: float = 0.5) -> MarketPrice:
    return MarketPrice(
        prob, age <= 3.0, "trade" if age <= 3.0 else "stale", age, tuple(prints or ())
    )


def test_prints_move_toward_the_mid_and_smooth_toward_recent_large_prints() -> None:
    buy_yes = TradePrint(0.0, 0.50, 1.0, True)
    last, smooth, stale = bracket_prices(_trade(0.50, [buy_yes], age=0.0))
    assert last == pytest.approx(0.50 - HALF_SPREAD) and smooth == last and not stale
    last, _, _ = bracket_prices(_trade(0.50, [TradePrint(0.0, 0.50, 1.0, False)], age=0.0))
    assert last == pytest.approx(0.50 + HALF_SPREAD)
    # A lone 1-lot print at 0.90 after 100 lots at 0.40: the smoothed price stays near 0.40.
    prints = [TradePrint(0.2, 0.40, 100.0, None), TradePrint(0.0, 0.90, 1.0, None)]
    last, smooth, _ = bracket_prices(_trade(0.90, prints, age=0.0))
    assert last == pytest.approx(0.90)
    assert smooth is not None and 0.40 < smooth < 0.50
    # An older print weighs less than the same print made recently.
    older = [TradePrint(2.2, 0.40, 100.0, None), TradePrint(0.0, 0.90, 1.0, None)]
    _, smooth_older, _ = bracket_prices(_trade(0.90, older, age=0.0))
    assert smooth_older is not None and smooth_older > smooth
    # Quotes (no prints): both prices are the quote's; a stale trade is flagged.
    assert bracket_prices(MarketPrice(0.3, True, "quote", 0.1)) == (0.3, 0.3, False)
    assert bracket_prices(_trade(0.2, age=5.0))[2]
    assert bracket_prices(MarketPrice(None, False, None, None)) == (None, None, True)


def test_plain_coefficients_give_the_normalised_last_prices() -> None:
    prices = (0.05, 0.2, 0.5, 0.2, 0.1, 0.05)
    f = _features(tuple(_trade(p) for p in prices))
    out = MarketStrategy().predict(f)
    assert out is not None and out.distribution is not None
    assert out.probabilities == pytest.approx([p / 1.1 for p in prices])


def _simulate(n: int, seed: int) -> list[tuple[EventFeatures, Event]]:
    """Events whose truth is the smoothed price; the last print is noise around it."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        true = rng.dirichlet(np.full(6, 1.5))
        k = int(rng.choice(6, p=true))
        market = []
        for p in true:
            noisy = float(np.clip(p + rng.normal(0.0, 0.15), 0.01, 0.99))
            prints = [TradePrint(0.3, float(np.clip(p, 0.01, 0.99)), 50.0, None)]
            prints.append(TradePrint(0.0, noisy, 1.0, None))
            market.append(_trade(noisy, prints, age=0.0))
        out.append((_features(tuple(market)), _event(tuple(int(i == k) for i in range(6)))))
    return out


def test_fit_learns_to_trust_the_smoothed_price_when_the_last_print_is_noise() -> None:
    strategy = MarketStrategy().fit(History(None, tuple(_simulate(600, 5))))
    assert strategy.n_fit == 600
    assert strategy.smooth > 0.5
    # On fresh events it beats the plain normalised last prints.
    test = _simulate(400, 6)
    plain, fitted = MarketStrategy(), strategy

    def log_loss(s: MarketStrategy) -> float:
        total = 0.0
        for f, e in test:
            out = s.predict(f)
            assert out is not None
            total -= np.log(out.probabilities[e.outcomes.index(1)])
        return total / len(test)

    assert log_loss(fitted) < log_loss(plain) - 0.05


def test_fit_stays_at_the_plain_market_on_few_events() -> None:
    assert fit_coefficients([]) == (1.0, 0.0, 0.0, 0.0)
    strategy = MarketStrategy().fit(History(None, tuple(_simulate(10, 1))))
    assert (strategy.gamma, strategy.smooth, strategy.stale, strategy.lag) == (1.0, 0.0, 0.0, 0.0)


def test_stale_brackets_learn_their_own_weight() -> None:
    rng = np.random.default_rng(2)
    samples = []
    for _ in range(800):
        # Stale brackets (the last two) are priced too high: they almost never win.
        true = np.array([0.1, 0.3, 0.3, 0.28, 0.01, 0.01])
        k = int(rng.choice(6, p=true))
        x = np.log(np.array([0.1, 0.3, 0.3, 0.2, 0.05, 0.05]))
        stale = np.array([0, 0, 0, 0, 1.0, 1.0])
        samples.append((np.stack([x, np.zeros(6), stale * x, np.zeros(6)], axis=1), k))
    _, s, st, lag = fit_coefficients(samples)
    assert st > 0.3 and s == pytest.approx(0.0, abs=1e-6) and lag == pytest.approx(0.0, abs=1e-6)


def test_price_lags_count_from_the_freshest_bracket() -> None:
    unpriced = MarketPrice(None, False, None, None)
    lags = price_lags((_trade(0.5, age=0.5), _trade(0.3, age=2.0), _trade(0.1, age=9.0), unpriced))
    assert lags == pytest.approx([0.0, 0.5, 1.0, 1.0])


def test_lagging_brackets_learn_their_own_weight() -> None:
    # A bracket that last traded two hours before the others has not caught up: it is
    # overpriced. The fit learns to discount it (lag > 0 sharpens away from it).
    rng = np.random.default_rng(3)
    history = []
    for _ in range(600):
        true = np.array([0.05, 0.2, 0.5, 0.2, 0.04, 0.01])
        k = int(rng.choice(6, p=true))
        quoted = (0.05, 0.2, 0.4, 0.2, 0.1, 0.05)
        ages = (0.2, 0.2, 0.2, 0.2, 2.2, 2.2)
        market = tuple(_trade(p, age=a) for p, a in zip(quoted, ages, strict=True))
        history.append((_features(market), _event(tuple(int(i == k) for i in range(6)))))
    fitted = MarketStrategy().fit(History(None, tuple(history)))
    assert fitted.lag > 0.3
    out = fitted.predict(history[0][0])
    plain = MarketStrategy().predict(history[0][0])
    assert out is not None and plain is not None
    assert out.probabilities[4] < plain.probabilities[4] - 0.02


def test_recent_events_weigh_more_in_the_fit() -> None:
    # A year ago the market was underconfident (the favourite won more often than priced);
    # lately it is exact. The fit follows the recent regime.
    rng = np.random.default_rng(4)
    quoted = np.array([0.05, 0.15, 0.6, 0.15, 0.04, 0.01])
    sharp = quoted**2.5 / np.sum(quoted**2.5)
    history = []
    for i in range(800):
        old = i < 400
        k = int(rng.choice(6, p=sharp if old else quoted))
        when = T - timedelta(days=(800 - i) if old else (400 - i) / 20)
        f = replace(_features(tuple(_trade(float(p)) for p in quoted)), decision_time=when)
        history.append((f, _event(tuple(int(j == k) for j in range(6)))))
    fitted = MarketStrategy().fit(History(None, tuple(history)))
    assert abs(fitted.gamma - 1.0) < 0.3
    samples = [(x, e.outcomes.index(1)) for f, e in history if (x := design(f)) is not None]
    unweighted = fit_coefficients(samples)[0]
    assert unweighted > fitted.gamma + 0.3


def test_incomplete_listing_gets_a_none_of_them_outcome() -> None:
    three = SIX[1:4]
    assert disjoint(three) and not disjoint((SIX[0], Bracket.from_strikes("less", None, 50)))
    f = _features(tuple(_trade(p) for p in (0.2, 0.3, 0.2)), three)
    x = design(f)
    assert x is not None and x.shape == (4, 4)
    out = MarketStrategy().predict(f)
    assert out is not None and out.distribution is None
    assert out.probabilities == pytest.approx([0.2, 0.3, 0.2])
    # An event none of whose listed brackets won teaches the "none" outcome.
    history = History(None, ((f, _event((0, 0, 0), three)),) * 40)
    fitted = MarketStrategy().fit(history)
    assert fitted.n_fit == 40
    out = fitted.predict(f)
    assert out is not None and sum(out.probabilities) < 0.7


def test_incomplete_listing_with_an_unpriced_bracket_is_still_priced() -> None:
    # Tape events list only some brackets, and one of them may have no print yet: the
    # market still has a price for the others, so the strategy must not go silent.
    three = SIX[1:4]
    unpriced = MarketPrice(None, False, None, None)
    f = _features((_trade(0.85), unpriced, _trade(0.05)), three)
    out = MarketStrategy().predict(f)
    assert out is not None
    assert out.probabilities == pytest.approx([0.85, 0.01, 0.05])
    only_unpriced = _features((unpriced,) * 3, three)
    assert MarketStrategy().predict(only_unpriced) is None


def test_overlapping_thresholds_are_priced_one_by_one() -> None:
    thresholds = (
        Bracket.from_strikes("greater", 50, None),
        Bracket.from_strikes("greater", 55, None),
    )
    f = _features((_trade(0.6), _trade(0.3)), thresholds)
    assert design(f) is None
    out = MarketStrategy(gamma=1.0).predict(f)
    assert out is not None and out.probabilities == pytest.approx([0.6, 0.3])
    assert (
        MarketStrategy().predict(
            _features((_trade(0.6), MarketPrice(None, False, None, None)), thresholds)
        )
        is None
    )
