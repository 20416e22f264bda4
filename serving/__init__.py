"""Teller serving package."""
