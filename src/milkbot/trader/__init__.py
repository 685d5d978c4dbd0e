"""The private Trader service: wiring of ingestion, decisions, execution and export."""
