"""The risk engine: fee-aware sizing, worst-case-loss caps, correlation clusters, breakers.

Modules
-------
limits
    ``RiskLimits`` = ``CapLimits`` + ``SizingConfig`` + ``BreakerLimits`` (frozen, defaults
    for a ~$1,000 demo account).
sizing
    ``size_event``: joint fractional Kelly for the exclusive brackets of one event, fees
    included at the actual count, probabilities shrunk by their uncertainty.
exposure
    ``PortfolioState`` (from a ``Ledger`` plus resting ``PendingOrder``s): worst-case loss per
    market, event, city and in total.
clusters / forecast_errors
    Rolling correlation of forecast errors -> average-linkage clusters, versioned
    ``ClusterMap``; ``ClusterSchedule`` recomputes it; ``effective_bets``.
breakers
    ``BreakerBoard``: latched trips per scope (global, cluster, city, market), trading states
    ACTIVE / REDUCING / HALTED, operator resets, snapshot/restore.
engine
    ``RiskEngine.check`` / ``approve`` / ``plan`` / ``check_cancel`` -> ``RiskDecision`` with a
    ``ReasonCode``, the inputs, caps and headroom.
"""
