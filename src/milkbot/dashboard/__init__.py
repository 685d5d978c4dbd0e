"""The public dashboard: a Streamlit app that is an HTTP client of the Analytics API only."""
