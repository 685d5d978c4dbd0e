"""Backtest: replay recorded market history through the trader's decision code.

Features, ensemble, :func:`milkbot.decision.decide`, the risk engine and the ledger are the
live ones; only the venue (:class:`~milkbot.backtest.venue.SimVenue`, the local exchange's
matching engine driven by recorded prints and quotes) and the clock are simulated.
See ``docs/backtest.md`` for the fill model and the metrics.
"""
