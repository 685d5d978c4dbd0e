"""Tests of the weather layer."""
