"""PII detection behind Teller's masker: prefiltered recognizers, windowed NER, and a seeded evaluation set."""
