"""Order management: the order state table, idempotent intents, reconciliation and audit."""
