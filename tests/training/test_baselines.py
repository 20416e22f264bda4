"""`teller baselines`: both baselines re-scored on a saved corpus's splits."""

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from teller.cli import app
from teller.io import read_jsonl

pytestmark = pytest.mark.slow


def test_baselines_command_scores_both_baselines_on_saved_splits(tiny_bundle):
    corpus = next((tiny_bundle["data_dir"] / "corpus").glob("*/fingerprint.json")).parent
    result = CliRunner().invoke(app, ["baselines", "--corpus", str(corpus), "--max-length", "32"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["corpus"] == corpus.name
    assert set(out["baselines"]) == {"majority", "tfidf_logreg", "frozen_minilm_logreg"}
    # The majority baseline predicts the training split's most frequent team for every test complaint.
    majority = Counter(r["team"] for r in read_jsonl(corpus / "train.jsonl") if r["team"]).most_common(1)[0][0]
    test_teams = [r["team"] for r in read_jsonl(corpus / "test.jsonl") if r["team"]]
    assert out["baselines"]["majority"]["team"]["accuracy"] == pytest.approx(
        test_teams.count(majority) / len(test_teams), abs=1e-3
    )
    assert out["baselines"]["majority"]["vulnerable"]["recall"] == 0.0
    for heads in (out["baselines"][b] for b in ("tfidf_logreg", "frozen_minilm_logreg")):
        assert {"team", "issue", "vulnerable", "intent", "intent_banking77"} <= set(heads)
        assert 0 < heads["team"]["accuracy"] <= 1 and "recall" in heads["vulnerable"]
    # TF-IDF is fitted deterministically: it reproduces the numbers the training run reported.
    reported = tiny_bundle["baselines"]["tfidf_logreg"]["team"]["accuracy"]
    assert out["baselines"]["tfidf_logreg"]["team"]["accuracy"] == pytest.approx(reported, abs=1e-3)
