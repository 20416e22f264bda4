"""Locust scenarios and the load-test runner; they reach Teller over HTTP only (an import-linter contract)."""
