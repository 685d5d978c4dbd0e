"""Operations: the operator's private commands, the trader's command queue, and ``doctor``.

Everything here talks to the trading database and the exchange directly; nothing is
reachable from the public side (Analytics API, dashboard).
"""
