"""Contract tests: every recorded Kalshi payload through the wire->domain parsers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from milkbot.domain.brackets import Bracket, StrikeType, is_partition
from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import Action, VenueOrderStatus
from milkbot.errors import ParseError
from milkbot.venues.kalshi import parsing

from .conftest import FIXTURES, load_payload, load_raw

D = Decimal
NOW = datetime(2026, 8, 1, tzinfo=UTC)


def test_every_fixture_is_covered_by_a_contract_test() -> None:
    covered = {name for name, _ in CURRENT} | {name for name, _ in LEGACY_REFUSED} | EXTRA
    on_disk = {p.name for p in FIXTURES.glob("*.json")}
    assert on_disk == covered


# --- real, current-shape captures --------------------------------------------------------------


def _open_markets() -> list:
    markets, cursor = parsing.markets_page(load_payload(OPEN))
    assert cursor is None
    return markets


OPEN = "real-2026-07_GET-markets_KXHIGHNY_open_trimmed.json"


def test_open_weather_markets_parse_exactly() -> None:
    t89, t82, b885 = _open_markets()
    assert t89.ticker == "KXHIGHNY-26JUL12-T89"
    assert t89.bracket == Bracket(StrikeType.GREATER, 89, None)
    assert t82.bracket == Bracket(StrikeType.LESS, None, 82)
    assert b885.bracket == Bracket(StrikeType.BETWEEN, 88, 89)
    assert t89.status == "active" and t89.is_tradable
    assert t89.yes_ask == D("0.0100") and t89.yes_bid == D("0.0000")
    assert t82.yes_bid_size == D("12.00") and t82.volume == D("1303.54")
    assert t89.open_interest == D("1642.25")
    assert t89.close_time == datetime(2026, 7, 13, 4, 59, tzinfo=UTC)
    assert t89.open_time == datetime(2026, 7, 11, 14, 0, tzinfo=UTC)
    assert "Central Park" in t89.rules_primary
    assert t89.price_ranges[0].step == D("0.0100")
    assert t89.is_valid_price(D("0.55")) and not t89.is_valid_price(D("0.555"))


def test_no_side_quotes_are_the_complement_of_yes_quotes() -> None:
    for m in _open_markets():
        assert m.no_bid == 1 - m.yes_ask
        assert m.no_ask == 1 - m.yes_bid


def test_settled_markets_carry_result_and_value() -> None:
    markets, _ = parsing.markets_page(
        load_payload("real-2026-07_GET-markets_KXHIGHNY_settled_trimmed.json")
    )
    t94 = next(m for m in markets if m.ticker == "KXHIGHNY-26JUL10-T94")
    assert t94.status == "finalized" and not t94.is_tradable
    assert t94.result == "no"
    assert t94.expiration_value == "85.00"
    assert t94.settlement_value == D("0")
    assert t94.settlement_ts is not None and t94.settlement_ts.date() == date(2026, 7, 11)


def test_candlesticks() -> None:
    candles = parsing.candlesticks(load_payload("real-2026-07_GET-candlesticks_trimmed.json"))
    assert len(candles) == 3
    first = candles[0]
    assert first.end_period_ts == datetime.fromtimestamp(1783674000, UTC)
    assert first.price_close == D("0.6000")
    assert first.yes_bid_close == D("0.6000") and first.yes_ask_close == D("0.6100")
    assert first.volume == D("83.70") and first.open_interest == D("6904.73")


NESTED = "real-2026-08_market_nested_single_and_orderbook.json"


def test_nested_and_single_market_agree_and_book_matches_quotes() -> None:
    raw = load_raw(NESTED)
    nested = parsing.market(raw["nested"])
    single = parsing.market(raw["single"]["market"])
    assert nested == single
    assert nested.bracket is None  # a "structured" sports market has no temperature bracket
    book = parsing.orderbook(raw["ticker"], raw["orderbook"])
    best_bid, best_ask = book.best_yes_bid, book.best_yes_ask
    assert best_bid is not None and best_ask is not None
    # The REST quote summary and the book agree once NO bids are converted: ask = 1 - NO bid.
    assert best_bid.price == single.yes_bid == D("0.89")
    assert best_bid.size == single.yes_bid_size == D("343.49")
    assert best_ask.price == single.yes_ask == D("0.94")
    assert best_ask.size == single.yes_ask_size == D("641.00")
    assert book.best_no_bid is not None and book.best_no_bid.price == single.no_bid
    assert [lv.price for lv in book.yes_bids] == sorted(lv.price for lv in book.yes_bids)


def test_orderbook_envelope_key_is_validated() -> None:
    raw = load_raw(NESTED)
    with pytest.raises(ParseError, match="orderbook_fp"):
        parsing.orderbook(raw["ticker"], {"orderbook": raw["orderbook"]["orderbook_fp"]})


def test_price_grid_capture() -> None:
    grid = load_raw("real-2026-08_price_grids.json")["grids"][0]
    m = parsing.market(
        {
            **load_raw(NESTED)["single"]["market"],
            "price_ranges": grid["price_ranges"],
        }
    )
    assert m.is_valid_price(D("0.01")) and m.is_valid_price(D("0.99"))
    assert not m.is_valid_price(D("0.015")) and not m.is_valid_price(D("1.01"))


FILLS = "real-2026-08_GET-portfolio-fills_redacted.json"


def test_fills_parse_with_exact_money_and_no_leg_prices() -> None:
    payload = load_payload(FILLS)
    fills, cursor = parsing.fills_page(payload)
    assert cursor is None and len(fills) == len(payload["fills"]) == 33
    first = fills[0]
    assert first.count == D("227.27") and first.price == D("0.0010")
    assert first.side is OutcomeSide.YES and first.action is Action.BUY
    assert first.fee == D("0.015930") and first.is_taker
    assert first.ts == datetime(2026, 8, 18, 9, 0, tzinfo=UTC)
    no_fills = [f for f in fills if f.side is OutcomeSide.NO]
    assert len(no_fills) == 2
    for f, w in zip(fills, payload["fills"], strict=True):
        leg = w["yes_price_dollars"] if f.side is OutcomeSide.YES else w["no_price_dollars"]
        assert f.price == D(leg)
        assert f.yes_price == D(w["yes_price_dollars"])


def test_settlements_parse_revenue_cents_to_dollars() -> None:
    payload = load_payload("real-2026-08_GET-portfolio-settlements_redacted.json")
    settlements, _ = parsing.settlements_page(payload)
    assert len(settlements) == 22
    first = settlements[0]
    assert first.market_result == "no" and first.yes_count == D("10.00")
    assert first.fee == D("0.026900") and first.yes_total_cost == D("0.400000")
    wins = [s for s, w in zip(settlements, payload["settlements"], strict=True) if w["revenue"]]
    assert {s.revenue for s in wins} == {D("15"), D("3"), D("10"), D("1"), D("20")}


def test_series_fee_fields() -> None:
    payloads = load_raw("real-2026-08_GET-series_fee_fields_sports.json")["payloads"]
    mlb = parsing.series(payloads["KXMLBGAME"]["series"])
    assert mlb.fee_model.fee_type == "quadratic_with_maker_fees"
    assert mlb.fee_model.multiplier == D("0.5")
    atp = parsing.series(payloads["KXATPDOUBLES"]["series"])
    assert atp.fee_model.fee_type == "quadratic" and atp.fee_model.multiplier == D(1)


# --- legacy (Jan 2026 / 2024) recordings ---


def test_weather_series_list() -> None:
    payload = load_payload("legacy-2026-01_series_list_response.json")
    series = {s.ticker: s for s in (parsing.series(x) for x in payload["series"])}
    assert len(series) == len(payload["series"])
    for ticker in ("KXHIGHNY", "KXHIGHCHI", "KXHIGHMIA", "KXHIGHAUS", "KXHIGHDEN"):
        assert series[ticker].fee_model.fee_type == "quadratic"
        assert series[ticker].fee_model.multiplier == D(1)
    single = parsing.series(load_payload("legacy-2026-01_series_single_response.json")["series"])
    assert single.ticker


def test_legacy_market_shapes_still_parse_from_dollar_fields() -> None:
    markets, _ = parsing.markets_page(load_payload("legacy-2026-01_markets_list_response.json"))
    assert markets and all(m.yes_bid is not None for m in markets)
    one = parsing.market(load_payload("legacy-2026-01_market_single_response.json")["market"])
    assert one.ticker
    ev = parsing.event(load_payload("legacy-2026-01_event_single_response.json"))
    assert ev.markets and all(m.event_ticker == ev.event_ticker for m in ev.markets)


def test_2024_austin_event_is_a_six_bracket_partition() -> None:
    ev = parsing.event(load_payload("legacy-2024-08_GET-event_HIGHAUS-24AUG16.json"))
    assert ev.series_ticker == "KXHIGHAUS" and ev.mutually_exclusive
    brackets = [m.bracket for m in ev.markets]
    assert all(b is not None for b in brackets) and len(brackets) == 6
    assert is_partition([b for b in brackets if b is not None])
    assert all(m.yes_bid is None for m in ev.markets)  # cent-only quotes are not guessed


def test_exchange_status_and_schedule() -> None:
    status = parsing.exchange_status(load_payload("legacy-2026-01_exchange_status_response.json"))
    assert status.exchange_active and status.trading_active
    sched = parsing.exchange_schedule(
        load_payload("legacy-2026-01_exchange_schedule_response.json"), NOW
    )
    thursday = [(w.open_time, w.close_time) for w in sched.windows if w.weekday == "thursday"]
    assert thursday == [("00:00", "03:00"), ("05:00", "00:00")]


def test_balance_from_integer_cents() -> None:
    bal = parsing.balance(load_payload("legacy-2026-01_portfolio_balance_response.json"))
    assert bal.balance == D("100") and bal.portfolio_value == D("250")
    assert bal.updated_ts == datetime.fromtimestamp(1768231443, UTC)


def test_balance_dollars_must_agree_with_cents() -> None:
    assert parsing.balance({"balance": 1234, "balance_dollars": "12.3400"}).balance == D("12.34")
    with pytest.raises(ParseError):
        parsing.balance({"balance": 1234, "balance_dollars": "12.3500"})


def _inner_order(name: str) -> object:
    return load_payload(name)["order"]


LEGACY_REFUSED = [
    # Pre-fixed-point shapes: integer counts only. Refused, never guessed.
    ("legacy-2026-01_portfolio_fills_response.json", parsing.fills_page),
    ("legacy-2026-01_portfolio_orders_response.json", parsing.orders_page),
    ("legacy-2026-01_portfolio_positions_response.json", parsing.positions_page),
    ("legacy-2026-01_portfolio_settlements_response.json", parsing.settlements_page),
    ("legacy-2026-01_trades_list_response.json", parsing.trades_page),
    ("legacy-2026-01_portfolio_order_single_response.json", lambda p: parsing.order(p["order"])),
    ("legacy-2026-01_orderbook_response.json", lambda p: parsing.orderbook("T", p)),
    # Responses of the V1 mutations Kalshi switched off: not the V2 shapes.
    ("legacy-2026-01_create_order_response.json", parsing.create_ack),
    ("legacy-2026-01_amend_order_response.json", parsing.amend_ack),
    ("legacy-2026-01_decrease_order_response.json", parsing.decrease_ack),
    ("legacy-2026-01_cancel_order_response.json", parsing.cancel_ack),
    (
        "legacy-2026-01_batch_create_orders_response.json",
        lambda p: parsing.batch_create_acks(p, NOW),
    ),
    (
        "legacy-2026-01_batch_cancel_orders_response.json",
        lambda p: parsing.batch_cancel_acks(p, NOW),
    ),
]


@pytest.mark.parametrize(("name", "parse"), LEGACY_REFUSED, ids=[n for n, _ in LEGACY_REFUSED])
def test_pre_migration_shapes_are_refused(name, parse) -> None:
    with pytest.raises(ParseError):
        parse(load_payload(name))


CURRENT = [
    (OPEN, None),
    ("real-2026-07_GET-markets_KXHIGHNY_settled_trimmed.json", None),
    ("real-2026-07_GET-candlesticks_trimmed.json", None),
    (NESTED, None),
    ("real-2026-08_price_grids.json", None),
    (FILLS, None),
    ("real-2026-08_GET-portfolio-settlements_redacted.json", None),
    ("real-2026-08_GET-series_fee_fields_sports.json", None),
    ("legacy-2026-01_series_list_response.json", None),
    ("legacy-2026-01_series_single_response.json", None),
    ("legacy-2026-01_markets_list_response.json", None),
    ("legacy-2026-01_market_single_response.json", None),
    ("legacy-2026-01_event_single_response.json", None),
    ("legacy-2024-08_GET-event_HIGHAUS-24AUG16.json", None),
    ("legacy-2026-01_exchange_status_response.json", None),
    ("legacy-2026-01_exchange_schedule_response.json", None),
    ("legacy-2026-01_portfolio_balance_response.json", None),
]
# Covered elsewhere: the WebSocket stream (test_websocket.py); queue positions are not used.
EXTRA = {
    "real-2026-08_WS_orderbook_delta_stream.json",
    "legacy-2026-01_order_queue_positions_response.json",
}


# --- V2 response shapes from the spec examples ---


def test_v2_acks_from_spec_examples() -> None:
    from .conftest import spec_schemas

    create = parsing.create_ack(
        spec_schemas("create-order-v2.md")["CreateOrderV2Response"]["example"]
    )
    assert create.filled == D("0.00") and create.remaining == D("10.00")
    assert create.ts == datetime.fromtimestamp(1715793600.123, UTC)
    cancel = parsing.cancel_ack(
        spec_schemas("cancel-order-v2.md")["CancelOrderV2Response"]["example"]
    )
    assert cancel.reduced_by == D("10.00")
    amend = parsing.amend_ack(spec_schemas("amend-order-v2.md")["AmendOrderV2Response"]["example"])
    assert amend.remaining == D("8.00")
    dec = parsing.decrease_ack(
        spec_schemas("decrease-order-v2.md")["DecreaseOrderV2Response"]["example"]
    )
    assert dec.remaining == D("8.00")
    batch = parsing.batch_create_acks(
        spec_schemas("batch-create-orders-v2.md")["BatchCreateOrdersV2Response"]["example"], NOW
    )
    assert [a.filled for a in batch] == [D("0.00"), D("5.00")]
    assert batch[1].average_fill_price == D("0.5800") and all(a.ok for a in batch)
    bc = parsing.batch_cancel_acks(
        spec_schemas("batch-cancel-orders-v2.md")["BatchCancelOrdersV2Response"]["example"], NOW
    )
    assert [a.reduced_by for a in bc] == [D("10.00"), D("5.00")]


def test_order_with_only_v2_direction_fields() -> None:
    wire = {
        "order_id": "o1",
        "client_order_id": "c1",
        "ticker": "KXHIGHNY-26JUL12-T89",
        "outcome_side": "no",
        "book_side": "ask",
        "type": "limit",
        "status": "resting",
        "yes_price_dollars": "0.3000",
        "no_price_dollars": "0.7000",
        "fill_count_fp": "1.00",
        "remaining_count_fp": "9.00",
        "initial_count_fp": "10.00",
        "taker_fees_dollars": "0.0000",
        "maker_fees_dollars": "0.0000",
    }
    o = parsing.order(wire)
    assert o.side is OutcomeSide.NO and o.action is Action.BUY
    assert o.price == D("0.7000") and o.yes_price == D("0.3000")
    assert o.status is VenueOrderStatus.RESTING
    assert (o.count, o.filled, o.remaining) == (D("10.00"), D("1.00"), D("9.00"))


def test_floats_are_refused_for_money() -> None:
    wire = load_payload(OPEN)["markets"][0]
    with pytest.raises(ParseError):
        parsing.market({**wire, "yes_bid_dollars": 0.42})
