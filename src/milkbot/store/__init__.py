"""Persistence: typed models of the trading and analytics schemas, engines, migrations."""
