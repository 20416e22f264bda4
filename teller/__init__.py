"""Teller teller package."""
