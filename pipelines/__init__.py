"""Teller pipelines package."""
