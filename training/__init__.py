"""Teller training package."""
