"""Streaming complaint intake: records from a stream triaged by the same service as the HTTP API (`teller intake`)."""
