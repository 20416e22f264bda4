"""`teller tune`: levers are scored on validation against the bundle as served, each lever computing what it says."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from teller.bundle import load_bundle
from teller.classifier import BundleClassifier, log_softmax
from teller.errors import TellerError
from teller.lexical import LexicalModel
from teller.settings import get_settings
from teller.taxonomy import load_taxonomy
from training import tune
from training.data import Example
from training.train import IGNORE
from training.tune import (
    Tuning,
    cross_fitted_member,
    fine_tuned_embeddings,
    halves,
    lexical_member,
    neighbour_member,
    prepare,
    saved_corpus,
    stacked,
    window_log_probs,
    window_pooled,
    windows,
)

SENTENCE = "my card was charged twice for one purchase and the bank refused a refund."


@pytest.fixture
def tiny_data_dir(tiny_bundle, monkeypatch):
    monkeypatch.setenv("TELLER_DATA_DIR", str(tiny_bundle["data_dir"]))
    get_settings.cache_clear()
    yield tiny_bundle["data_dir"]
    get_settings.cache_clear()


def _tune(*args: str):
    from teller.cli import app

    return CliRunner().invoke(app, ["tune", *args])


def test_windows_cover_the_whole_text_and_the_first_is_what_the_bundle_serves(tiny_bundle):
    classifier = BundleClassifier(load_bundle(tiny_bundle["bundle"]))
    width = classifier.bundle.info.max_length - 2
    texts = ["my card was charged twice", " ".join([SENTENCE] * 20), " ".join([SENTENCE] * 9)]
    pieces, owner = windows(classifier, texts)
    bodies = {i: [t for p, o in zip(pieces, owner, strict=True) if o == i for t in p[1:-1]] for i in range(3)}
    for i, text in enumerate(texts):
        full = classifier.tokenizer.encode(text).ids[1:-1]
        assert bodies[i] == full[: len(bodies[i])] and len(full) - len(bodies[i]) < 16  # a short tail may drop
    assert np.bincount(owner).tolist()[0] == 1 and np.bincount(owner)[1] > np.bincount(owner)[2] > 1
    assert max(map(len, pieces)) <= width + 2

    log_probs, window_owner = window_log_probs(classifier, texts)
    assert (window_owner == owner).all()
    first = window_pooled(log_probs, owner, first_weight=1.0)
    served = classifier.logits(texts)
    for head, z in served.items():
        np.testing.assert_allclose(first[head.removesuffix("_logits")], log_softmax(z), atol=1e-4)
    mean = window_pooled(log_probs, owner, first_weight=0.0)
    by_window = [log_softmax(classifier.logits_of([p])["issue_logits"])[0] for p in pieces]
    for i in range(3):
        expected = np.mean([z for z, o in zip(by_window, owner, strict=True) if o == i], axis=0)
        np.testing.assert_allclose(mean["issue"][i], expected, atol=1e-4)
    assert not np.allclose(mean["issue"][1], first["issue"][1], atol=1e-3)


def test_the_recipe_settings_refit_the_bundle_lexical_member_and_a_setting_changes_it(tiny_bundle, tiny_data_dir):
    bundle = load_bundle(tiny_bundle["bundle"])
    corpus = saved_corpus(bundle)
    texts = [e.text for e in corpus.splits["val"]]
    served = LexicalModel.load(bundle.path).log_probs(texts)
    refitted = lexical_member(corpus.splits["train"], texts, load_taxonomy())
    changed = lexical_member(corpus.splits["train"], texts, load_taxonomy(), c=0.01)
    assert served.keys() == refitted.keys() and "team" in served
    for head, lp in served.items():
        np.testing.assert_allclose(refitted[head], lp, atol=0.02)  # the bundle stores weights in float16
        assert not np.allclose(changed[head], lp, atol=0.02)


def test_a_stacked_regression_scores_each_row_out_of_fold():
    rng = np.random.default_rng(0)
    n, classes = 300, 50
    y = rng.integers(0, 2, n)
    noise = {h: log_softmax(rng.normal(size=(n, classes))) for h in ("team", "issue")}
    signal = noise["issue"].copy()
    signal[np.arange(n), y] += 4.0
    labels = {"team": y, "issue": y.copy()}
    labels["issue"][:20] = IGNORE
    tuning = Tuning(None, [], [], None, labels, {"team": noise["team"], "issue": signal}, dict(noise))
    probs = stacked(tuning, c=1.0)
    accuracy = {h: (probs[h].argmax(1) == y)[labels[h] != IGNORE].mean() for h in probs}
    # 100 noise columns on 300 rows: fitted and scored on the same rows this would be far above chance
    assert accuracy["team"] < 0.62 and accuracy["issue"] > 0.95
    assert (probs["issue"][:20] < -29).all()  # unlabelled rows are neither fitted nor scored


def test_neighbours_vote_by_similarity_and_unlabelled_rows_do_not_vote():
    x_train = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [0.6, 0.8]])
    labels = {"team": np.array([IGNORE, 0, 0, 1, 1]), "issue": np.full(5, IGNORE)}
    x_scored = np.array([[2.0, 0.0], [0.0, 3.0]])  # cosine: the scale does not matter
    rest = 0.02 / 3  # the smoothing share of every class
    one = neighbour_member(x_train, labels, x_scored, {"team": 3, "issue": 4}, k=1)
    assert set(one) == {"team"}  # a head without labelled rows gets no member
    # the nearest row to the first text is unlabelled: the vote is the next one's (class 0)
    np.testing.assert_allclose(np.exp(one["team"]), [[0.98 + rest, rest, rest], [rest, 0.98 + rest, rest]])
    three = np.exp(neighbour_member(x_train, labels, x_scored, {"team": 3}, k=3)["team"])
    np.testing.assert_allclose(three.sum(1), 1.0)
    assert three[0, 0] > 0.98 and three[0, 1] > rest + 1e-4  # the far class-1 vote counts, far less than the close ones
    everyone = np.exp(neighbour_member(x_train, labels, x_scored, {"team": 3}, k=50)["team"])  # k above the rows
    assert everyone.shape == (2, 3) and (everyone.argmax(1) == [0, 1]).all()


def test_fine_tuned_embeddings_come_from_the_bundles_own_run_and_another_run_is_refused(tiny_bundle, tiny_data_dir):
    import json
    import shutil

    bundle = load_bundle(tiny_bundle["bundle"])
    tuning = prepare(bundle, saved_corpus(bundle), load_taxonomy())
    x_train, x_val = fine_tuned_embeddings(tuning)
    assert x_train.shape == (len(tuning.train), 384) and x_val.shape == (len(tuning.val), 384)

    other = tiny_data_dir.parent / "other-bundle"
    shutil.copytree(bundle.path, other)
    metrics = json.loads((other / "metrics.json").read_text())
    for epoch in metrics["history"]:
        epoch["score"] += 0.01
    (other / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(TellerError, match="another training run than the bundle's"):
        fine_tuned_embeddings(prepare(load_bundle(other), saved_corpus(bundle), load_taxonomy()))
    shutil.rmtree(other)


def test_halves_keep_near_duplicates_together_and_split_evenly():
    texts = [f"my {word} card was charged twice" for word in ("debit", "credit", "gift", "prepaid")] * 50
    texts = [f"{t} {i}" if i % 2 else t for i, t in enumerate(texts)]  # digits do not make a different complaint
    words = ["".join(chr(97 + i // 26**k % 26) for k in range(3)) for i in range(400)]
    texts += [f"the bank closed my {word} account without notice" for word in words]
    half = halves([Example(t, "cfpb") for t in texts])
    assert all(len(set(half[:200][i::4])) == 1 for i in range(4))
    assert 0.4 < half[200:].mean() < 0.6


def test_the_cross_fitted_member_scores_each_validation_half_by_the_fit_that_did_not_see_it(monkeypatch):
    val = [Example(f"statement {word} fee dispute", "cfpb", team="Credit card") for word in "abcdefghijklmnop"]
    train = [Example("mortgage escrow shortage", "cfpb", team="Mortgage")]
    calls = []

    def member(rows, texts, taxonomy):
        calls.append(([e.text for e in rows], texts))
        return {"team": np.full((len(texts), 2), float(len(calls)))}

    monkeypatch.setattr(tune, "lexical_member", member)
    half = halves(val)
    out = cross_fitted_member(Tuning(None, train, val, None, {}, {}, {}))
    assert len(calls) == 2 and 0 < half.sum() < len(val)
    for fitted, scored in calls:
        assert fitted[0] == train[0].text and not set(fitted) & set(scored)
    assert sorted(calls[0][1] + calls[1][1]) == sorted(e.text for e in val)
    np.testing.assert_array_equal(out["team"][:, 0], np.where(half == 0, 1.0, 2.0))


def test_tune_prints_each_lever_next_to_the_bundle_as_served(tiny_bundle, tiny_data_dir):
    result = _tune("stacking", "--bundle", str(tiny_bundle["bundle"]))
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| validation | team accuracy | issue accuracy | vulnerable PR AUC |")
    assert rows[1].startswith("| bundle as served |") and len(rows) == 4
    served = [float(cell) for cell in rows[1].strip("| ").split(" | ")[1:]]
    assert all(0 < s <= 1 for s in served)
    for row in rows[2:]:
        name, *cells = row.strip("| ").split(" | ")
        assert "stacked regression" in name and all(re.fullmatch(r"0\.\d{4} \([+-]\d+\.\d\)", c) for c in cells)


def test_tune_refuses_an_unknown_lever_and_a_missing_corpus(tiny_bundle, tmp_path):
    unknown = _tune("dropout", "--bundle", str(tiny_bundle["bundle"]))
    assert unknown.exit_code == 2 and "unknown lever 'dropout'" in unknown.output and "lexical" in unknown.output
    missing = _tune("windows", "--bundle", str(tiny_bundle["bundle"]), "--corpus", str(tmp_path))
    assert missing.exit_code == 2 and "no saved corpus" in missing.output and "--corpus" in missing.output
    assert "Traceback" not in unknown.output + missing.output
