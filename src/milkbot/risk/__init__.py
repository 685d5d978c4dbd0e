"""The risk engine: fee-aware sizing, worst-case-loss caps, correlation clusters, breakers."""
