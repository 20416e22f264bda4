"""New labels zero-shot: real MiniLM vectors on small Banking77 samples, the threshold rule, accept, discover."""

from __future__ import annotations

import csv
import json
import random
import shutil
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from serving.labels import read_label_reports
from teller.errors import DataError, TellerError
from teller.taxonomy import TAXONOMY_PATH, Taxonomy, load_taxonomy
from tests.conftest import BANKING77, sample_rows
from training.cli import app
from training.corpus import Corpus, DataConfig, build_corpus, corpus_fingerprint
from training.data import Example
from training.labels import discover as discover_mod
from training.labels.accept import accept
from training.labels.assignments import accepted_dir, apply_zero_shot
from training.labels.embed import embed
from training.labels.propose import propose
from training.labels.zeroshot import calibrate, centroids, leave_one_out, prototype, scores

NEW, OTHERS = "exchange_rate", ("card_arrival", "lost_or_stolen_card", "top_up_failed", "passcode_forgotten")


@pytest.fixture(scope="module")
def by_intent() -> dict[str, list[str]]:
    """Up to 30 Banking77 queries of each intent the tests use (a seeded sample)."""
    _, rows = sample_rows(BANKING77, 10_003, seed=3, where=lambda r: r["category"] in (NEW, *OTHERS))
    out: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if len(out[r["category"]]) < 30:
            out[r["category"]].append(r["text"])
    return out


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float((pos[:, None] > neg[None, :]).mean())


def test_a_label_from_one_intents_examples_ranks_that_intents_queries_first(by_intent):
    shots, held = by_intent[NEW][:5], by_intent[NEW][5:25]
    others = [t for i in OTHERS for t in by_intent[i][:15]]
    protos = embed(["A customer asks about exchange rates.", *shots])
    x = embed(held + others)
    s = scores(x, prototype(protos))
    assert _auc(s[: len(held)], s[len(held) :]) > 0.95
    names, rivals = centroids(x[len(held) :], [i for i in OTHERS for _ in range(15)])
    assert names == sorted(OTHERS)
    contrasted = scores(x, prototype(protos), rivals)
    assert (contrasted[: len(held)] > 0).mean() > 0.8, "closer to the new label than to any existing one"
    assert (contrasted[len(held) :] < 0).mean() > 0.9


def test_the_threshold_rule_separates_held_out_examples_from_the_background():
    rng = np.random.default_rng(0)
    examples = rng.normal(0.62, 0.04, 8)
    negatives = rng.normal(0.25, 0.08, 980)
    unlabelled = rng.normal(0.62, 0.04, 20)  # the new label hides in the corpus, unlabelled (2%)
    t = calibrate(examples, np.concatenate([negatives, unlabelled]), prevalence=0.02)
    held_out = rng.normal(0.62, 0.04, 200)
    assert (held_out >= t.value).mean() > 0.85
    assert (negatives >= t.value).mean() < 0.01
    assert t.expected_precision > 0.8 and 0.4 < t.value < 0.6
    rare = calibrate(examples, np.concatenate([negatives, unlabelled]), prevalence=0.002)
    assert rare.value >= t.value, "a rarer label needs a stricter threshold"
    with pytest.raises(TellerError, match="--example"):
        leave_one_out(np.eye(3, 8))  # description + 2 examples: too few to calibrate


def _saved_corpus(directory, by_intent) -> Corpus:
    """A saved corpus of chat queries: 12 of the new kind (labelled out_of_scope today) and 12 of each other."""
    rows = [Example(t, "clinc150", intent="out_of_scope") for t in by_intent[NEW][10:22]]
    rows += [Example(t, "banking77", intent=i) for i in OTHERS for t in by_intent[i][:12]]
    random.Random(1).shuffle(rows)
    splits = {"train": rows[:40], "val": rows[40:50], "test": rows[50:]}
    corpus = Corpus(splits, corpus_fingerprint(splits), {})
    corpus.save(directory)
    return corpus


def test_propose_then_accept_into_a_copy_of_the_taxonomy(tmp_path, data_dir, by_intent):
    corpus = _saved_corpus(data_dir / "corpus" / "abc123", by_intent)
    original = TAXONOMY_PATH.read_bytes()
    summary = propose(
        "fx_rates",
        "A customer asks about exchange rates.",
        by_intent[NEW][:5],
        "topic",
        load_taxonomy(),
    )
    out = data_dir / "reports" / "labels" / "fx-rates"
    assert {"review.csv", "summary.json", "confidence.png", "scores.png", "distribution_labels.png"} <= {
        p.name for p in out.iterdir()
    }
    with (out / "review.csv").open(newline="") as handle:
        review = list(csv.DictReader(handle))
    assert list(review[0]) == ["text", "split", "old_label", "team", "similarity", "score", "proposed"]
    flagged = [r for r in review if r["proposed"] == "yes"]
    hits = sum(r["text"] in by_intent[NEW] for r in flagged)
    assert summary["proposed"] == len(flagged) and hits >= 8 and hits / len(flagged) >= 0.8
    assert summary["distribution"]["after"]["fx_rates"] == summary["proposed"]
    assert summary["threshold"]["expected_precision"] > 0
    shown = read_label_reports(data_dir / "reports" / "labels", accepted=set()).proposals[0]  # the dashboard view
    assert shown.distribution[0].after == summary["proposed"] and not shown.accepted
    assert sum(shown.confidence_before) == sum(shown.confidence_after) == summary["rows"]

    copy = tmp_path / "taxonomy.yaml"
    shutil.copy(TAXONOMY_PATH, copy)
    result = accept("fx_rates", copy)
    accept("fx_rates", copy)  # accepting again replaces the entry
    taxonomy = load_taxonomy(copy)
    assert taxonomy.topic_for_intent("fx_rates") == "fx_rates" and "fx_rates" in taxonomy.intent_labels
    assert taxonomy.custom_labels["fx_rates"].description == "A customer asks about exchange rates."
    assert yaml.safe_load(copy.read_text())["version"] == 1 and "# CSR chat" in copy.read_text(), "comments kept"
    assert TAXONOMY_PATH.read_bytes() == original
    assert result["rows"] == summary["proposed"]
    (shown,) = read_label_reports(data_dir / "reports" / "labels", set(taxonomy.custom_labels)).proposals
    assert shown.accepted

    splits = Corpus.load(data_dir / "corpus" / "abc123").splits
    applied = apply_zero_shot(splits, accepted_dir(), taxonomy)
    assert applied["fx_rates"]["labelled_by"] == "zero-shot"
    relabelled = {s: sum(e.intent == "fx_rates" for e in rows) for s, rows in splits.items()}
    assert relabelled["test"] == 0, "the test split stays frozen"
    assert relabelled["train"] + relabelled["val"] == sum(applied["fx_rates"]["applied"].values()) > 0
    assert corpus_fingerprint(splits)["sha256"] != corpus.fingerprint["sha256"]
    with pytest.raises(DataError, match="not in the taxonomy"):
        apply_zero_shot(splits, accepted_dir(), load_taxonomy())

    # The hook a training run goes through: build_corpus relabels and marks the fingerprint.
    texts = [e.text for rows in splits.values() for e in rows]
    csv_path = tmp_path / "queries.csv"
    with csv_path.open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "category"), *((t, "exchange_rate") for t in texts)])
    built = build_corpus(DataConfig(cfpb=None, banking77=csv_path, clinc150=None), taxonomy)
    marked = built.fingerprint["zero_shot"]["fx_rates"]
    relabelled = {s: sum(e.intent == "fx_rates" for e in rows) for s, rows in built.splits.items()}
    assert marked["labelled_by"] == "zero-shot" and marked["applied"] == {
        "train": relabelled["train"],
        "val": relabelled["val"],
    }
    assert relabelled["train"] + relabelled["val"] > 0 and relabelled["test"] == 0


def test_custom_labels_are_validated():
    data = yaml.safe_load(TAXONOMY_PATH.read_text())
    good = {"head": "issue", "description": "Refund of an overdraft fee.", "teams": ["retail_banking"]}
    taxonomy = Taxonomy.model_validate({**data, "custom_labels": {"Overdraft refund": good}})
    assert "Overdraft refund" in taxonomy.issue_teams["retail_banking"] and taxonomy.issue_labels[-1] == "Other"
    for bad, message in (
        ({**good, "teams": ["nope"]}, "unknown team"),
        ({**good, "teams": []}, "at least one team"),
        ({**good, "description": " "}, "description is blank"),
        ({**good, "head": "vulnerable"}, "head"),
    ):
        with pytest.raises(ValidationError, match=message):
            Taxonomy.model_validate({**data, "custom_labels": {"Overdraft refund": bad}})


def test_discover_puts_two_different_topics_in_different_clusters(data_dir, by_intent, monkeypatch):
    lost, rates = by_intent["lost_or_stolen_card"][:15], by_intent[NEW][:15]
    x = embed(lost + rates)
    groups = discover_mod.cluster(x, 2)
    assert len(set(groups[:15])) == 1 and len(set(groups[15:])) == 1 and groups[0] != groups[15]

    _saved_corpus(data_dir / "corpus" / "abc123", by_intent)
    unsure = {t: 0.2 for t in by_intent[NEW]} | {t: 0.3 for t in by_intent["lost_or_stolen_card"]}

    def confidence(bundle, head, texts):
        return np.array([unsure.get(t, 0.9) for t in texts]), ["x"] * len(texts)

    monkeypatch.setattr(discover_mod, "bundle_confidence", confidence)
    bundle = SimpleNamespace(info=SimpleNamespace(name="teller-triage", version="test"))
    report = discover_mod.discover(bundle, load_taxonomy(), "topic", clusters=2)  # type: ignore[arg-type]
    saved = json.loads(discover_mod.report_path().read_text())
    assert saved["uncertain"] == report["uncertain"] == 24, "the 12 lost-card and 12 exchange-rate queries"
    terms = [" ".join(c["top_terms"]) for c in saved["clusters"]]
    assert any("rate" in t or "exchange" in t for t in terms) and any("card" in t for t in terms)
    assert all(1 <= len(c["examples"]) <= 3 and c["size"] for c in saved["clusters"])


def test_bad_input_gets_a_clear_error(data_dir):
    runner = CliRunner()
    cases = [
        (["labels", "propose", "x", "--description", "d", "--head", "vulnerable"], "unknown head"),
        (["labels", "propose", "x", "--description", "  "], "description is empty"),
        (["labels", "propose", "x", "--description", "d"], "no saved corpus"),
        (["labels", "propose", "Other", "--description", "d"], "already a label of head 'issue'"),
        (["labels", "accept", "never-proposed"], "no proposal"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Fix:" in result.output, result.output
