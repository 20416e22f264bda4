"""Teller rag package."""
