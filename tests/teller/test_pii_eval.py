"""Teller's masker against Presidio's defaults on the seeded PII set, the scoring rules, and `teller mask eval`."""

import json

import pytest
from typer.testing import CliRunner

from teller.cli import app
from teller.masking import Masker
from teller.pii.evalset import ENTITIES, Example, GoldSpan, load
from teller.pii.evaluate import PresidioDefault, score
from teller.pii.spans import Span


@pytest.fixture(scope="module")
def scores():
    examples = load()
    texts = [e.text for e in examples]
    presidio = PresidioDefault()
    return {
        "teller": score(examples, Masker().analyze_many(texts)),
        "presidio_default": score(examples, [presidio.analyze(t) for t in texts]),
    }


@pytest.mark.parametrize("entity", ENTITIES)
def test_teller_recall_is_no_lower_than_presidio_defaults(scores, entity):
    teller = scores["teller"]["entities"][entity]
    presidio = scores["presidio_default"]["entities"][entity]
    assert teller["recall"] >= presidio["recall"], (entity, teller, presidio)
    assert teller["recall"] >= 0.9, (entity, teller)


def test_teller_masks_little_that_is_not_pii(scores):
    assert scores["teller"]["overall"]["precision"] >= 0.9, scores["teller"]["overall"]


def test_a_span_counts_as_found_only_when_all_its_letters_and_digits_are_masked():
    text = "Call 212-555-0187 or mail Ann Lee."
    gold = (GoldSpan(5, 17, "PHONE_NUMBER", "212-555-0187"), GoldSpan(26, 33, "PERSON", "Ann Lee"))
    example = Example("x", "multi", text, gold)
    regions = [Span(5, 17, "UK_NHS", 0.5), Span(26, 29, "PERSON", 0.85), Span(0, 4, "PERSON", 0.85)]
    result = score([example], [regions])
    phone, person = result["entities"]["PHONE_NUMBER"], result["entities"]["PERSON"]
    assert (phone["recall"], phone["typed_recall"]) == (1.0, 0.0)  # masked, under the wrong label
    assert person["recall"] == 0.0  # "Lee" survived
    assert person["precision"] == 0.5 and result["entities"]["UK_NHS"]["precision"] == 1.0  # "Call" is over-masking


def test_mask_eval_json_reports_both_maskers():
    result = CliRunner().invoke(app, ["mask", "eval", "--json", "--limit", "22"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["examples"] == 22 and "definition" in report
    assert set(report["maskers"]) == {"teller", "presidio_default"}
    for masker in report["maskers"].values():
        assert {"entities", "overall", "speed"} <= set(masker)
        assert {"texts_per_s", "p50_ms", "p95_ms"} <= set(masker["speed"])
        assert {"support", "recall", "typed_recall", "precision"} <= set(masker["overall"])
    assert "PERSON" in report["maskers"]["teller"]["entities"]


def test_mask_still_masks_a_text_argument_and_standard_input():
    runner = CliRunner()
    assert runner.invoke(app, ["mask", "My SSN is 078-05-1120"]).stdout == "My SSN is <US_SSN>\n"
    assert runner.invoke(app, ["mask", "-"], input="mail jo@example.com").stdout == "mail <EMAIL_ADDRESS>\n"
