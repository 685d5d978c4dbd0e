"""The Analytics API: a read-only, delayed view of the analytics schema."""
