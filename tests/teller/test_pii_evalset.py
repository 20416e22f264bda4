"""The seeded PII evaluation set: reproducible from its seed, spans consistent, every entity well represented."""

import re
from collections import Counter
from itertools import pairwise

import pytest

from teller.pii.evalset import ENTITIES, EVALSET_PATH, REJECTED_SSNS, generate, load, luhn_check_digit, to_jsonl


@pytest.fixture(scope="module")
def examples():
    return load()


def test_the_committed_file_is_what_the_seed_generates(examples):
    assert EVALSET_PATH.read_text(encoding="utf-8") == to_jsonl(generate()), "run `python -m teller.pii.evalset`"
    assert len(examples) == 300 and len({e.id for e in examples}) == 300


def test_every_span_is_the_pii_value_at_its_offsets(examples):
    for example in examples:
        for span in example.spans:
            assert example.text[span.start : span.end] == span.value, example.id
            assert span.entity in ENTITIES
        ordered = sorted(example.spans, key=lambda s: s.start)
        assert all(a.end <= b.start for a, b in pairwise(ordered)), f"{example.id}: overlapping spans"


def test_every_entity_is_well_represented_and_some_sentences_have_no_pii(examples):
    counts = Counter(span.entity for e in examples for span in e.spans)
    assert set(counts) == set(ENTITIES)
    assert min(counts.values()) >= 25, counts
    assert sum(not e.spans for e in examples) >= 20


def test_cards_pass_luhn_and_ssns_include_ones_presidio_rejects(examples):
    values = {entity: [s.value for e in examples for s in e.spans if s.entity == entity] for entity in ENTITIES}
    for card in values["CREDIT_CARD"]:
        digits = re.sub(r"\D", "", card)
        assert 15 <= len(digits) <= 16 and luhn_check_digit(digits[:-1]) == int(digits[-1]), card
    assert set(REJECTED_SSNS) & set(values["US_SSN"]) >= {"078-05-1120", "123-45-6789"}
    assert any(re.fullmatch(r"\d{9}", v) for v in values["US_SSN"]), "bare 9-digit SSNs with context are covered"
    assert all(v.startswith("9") for v in values["US_ITIN"])
    phone_shapes = {re.sub(r"\d", "9", v) for v in values["PHONE_NUMBER"]}
    assert len(phone_shapes) >= 6, phone_shapes


def test_a_different_seed_gives_a_different_set():
    assert to_jsonl(generate(seed=1, size=20)) != to_jsonl(generate(size=20))
    assert to_jsonl(generate(seed=1, size=20)) == to_jsonl(generate(seed=1, size=20))
