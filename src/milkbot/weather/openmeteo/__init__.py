"""The Open-Meteo adapter (secondary provider): forecast and ensemble APIs."""
