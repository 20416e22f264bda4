import re

import pytest

from teller.masking import PLACEHOLDER, Masker, model_view, normalise_redactions

# Seeded PII that must never survive masking: (text, the secret substrings).
PII_CASES = [
    ("Hi, I am John Smith and you can reach me at (212) 555-0187.", ["John Smith", "555-0187"]),
    ("My SSN is 536-22-8726 and my email is jane.doe@example.com", ["536-22-8726", "jane.doe@example.com"]),
    ("Card 4111 1111 1111 1111 was charged twice.", ["4111 1111 1111 1111"]),
    ("Wire it to IBAN DE89370400440532013000 please", ["DE89370400440532013000"]),
    ("My checking account number is 000123456789 at the branch.", ["000123456789"]),
    ("Maria Garcia called from 415-555-2671 about account 9876543210.", ["Maria Garcia", "415-555-2671", "9876543210"]),
    ("Call me on +1 202 555 0143 tomorrow", ["202 555 0143"]),
    ("My name is Marguerite Okonkwo and I am 81 years old.", ["Marguerite Okonkwo"]),
    ("I'm Oluwaseun Adebayo-Price, please call back", ["Oluwaseun Adebayo-Price"]),
]


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker()


@pytest.mark.parametrize(("text", "secrets"), PII_CASES)
def test_seeded_pii_does_not_survive(masker, text, secrets):
    masked = masker.mask(text)
    for secret in secrets:
        assert secret not in masked.text
        for digits in re.findall(r"\d{4,}", secret):
            assert digits not in masked.text
    assert masked.entities, "the masker should report what it replaced"


def test_us_phone_is_a_phone_not_a_uk_nhs_number(masker):
    masked = masker.mask("Please call 212 555 0187 about my loan")
    assert "<PHONE_NUMBER>" in masked.text
    assert "UK_NHS" not in masked.text and "UK_NHS" not in masked.entities


def test_batch_masking_matches_single_and_keeps_order(masker):
    texts = [case[0] for case in PII_CASES]
    assert [m.text for m in masker.mask_many(texts, batch_size=3)] == [masker.mask(t).text for t in texts]


def test_cfpb_redactions_share_presidio_placeholders():
    text = "On XX/XX/2019 XXXX XXXX charged me {$1,200.00} on account XXXX."
    assert normalise_redactions(text) == f"On <DATE_TIME> {PLACEHOLDER} charged me $1,200.00 on account {PLACEHOLDER}."
    assert model_view("Dear <PERSON>, on <DATE_TIME>") == f"Dear {PLACEHOLDER}, on {PLACEHOLDER}"


def test_cfpb_and_live_text_look_the_same_to_the_model(masker):
    live = masker.mask("My name is John Smith and my account 12345678901 was closed").text
    cfpb = masker.mask("My name is XXXX XXXX and my account XXXX was closed").text
    assert model_view(live) == model_view(cfpb)


@pytest.mark.parametrize(
    "text", ["Why was I charged a fee for my transfer?", "I am Very upset about this fee", "I am 81 years old."]
)
def test_clean_text_is_unchanged(masker, text):
    assert masker.mask(text).text == text
