"""The NWS API (api.weather.gov) adapter: client, wire parsing and value types."""
