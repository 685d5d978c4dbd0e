"""Trading venues: clients of exchanges (Kalshi) and the local Kalshi-compatible exchange."""
