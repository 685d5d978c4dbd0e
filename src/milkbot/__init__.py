"""Milkbot."""
