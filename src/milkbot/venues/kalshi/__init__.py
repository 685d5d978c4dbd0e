"""Kalshi Trade API v2: REST client, WebSocket client, local order books, wire parsing."""
