"""Strategies: NWS, ensemble members, nowcast, market, climatology; and their ensemble."""
