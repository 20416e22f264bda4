"""Head refits: a regression on the pooled embeddings replaces a head only where it scores higher on validation,
and the refitted layer gives the regression's own probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from transformers import AutoTokenizer
from typer.testing import CliRunner

from teller.classifier import softmax
from teller.cli import app
from teller.taxonomy import HEADS, load_taxonomy
from training.data import Example
from training.model import MultiTaskModel, encoder_path
from training.refit import fit_refits, keep_refits, layer_weights
from training.train import Encoded, embeddings, encode, predict_probs


def test_a_binary_and_a_multiclass_fit_become_layers_that_give_their_probabilities():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 5))
    binary = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    coef, bias = layer_weights(binary, 2)
    np.testing.assert_allclose(softmax(x @ coef.T + bias), binary.predict_proba(x), atol=1e-5)
    three = LogisticRegression().fit(x, np.array([0, 2, 3])[x[:, :3].argmax(axis=1)])  # class 1 never occurs
    coef, bias = layer_weights(three, 4)
    probs = softmax(x @ coef.T + bias)
    np.testing.assert_allclose(probs[:, [0, 2, 3]], three.predict_proba(x), atol=1e-5)
    assert probs[:, 1].max() < 1e-9


@pytest.fixture
def setup():
    """A tiny random encoder whose intent head always says the first of four intents, and four-intent queries."""
    torch.manual_seed(0)
    taxonomy = load_taxonomy()
    model = MultiTaskModel({h: len(taxonomy.labels(h)) for h in HEADS}, "random").eval()
    intents = taxonomy.intent_labels[:4]
    words = ["card", "transfer", "refund", "pin"]
    rows = [
        Example(f"my {w} {w} question number {i}", "banking77", intent=t)
        for i in range(12)
        for w, t in zip(words, intents, strict=True)
    ]
    with torch.no_grad():
        model.heads["intent"].weight.zero_()
        model.heads["intent"].bias.zero_()
        model.heads["intent"].bias[taxonomy.intent_labels.index(intents[0])] = 1.0
    data = encode(rows, AutoTokenizer.from_pretrained(str(encoder_path())), taxonomy, 16)
    logits = {h: np.log(p) for h, p in predict_probs(model, data, torch.device("cpu")).items()}
    return model, data, logits, embeddings(model, data, torch.device("cpu"))


def untouched(model) -> bool:
    """Whether the intent head is still the fixture's (zero weights)."""
    return not model.heads["intent"].weight.any()


def test_a_refit_that_wins_on_validation_replaces_the_head_and_gives_its_probabilities(setup):
    model, data, logits, x = setup
    refits = fit_refits(model, ["intent", "team"], data, data, {}, x)  # no complaint rows: no team refit
    assert list(refits) == ["intent"] and max(refits["intent"].tried.values()) > 0.9
    assert untouched(model)  # candidates leave the model alone
    kept, report = keep_refits(model, refits, logits, {}, data.labels)
    assert report["intent"]["served_trained"] == pytest.approx(0.25) and report["intent"]["kept"]
    assert kept["intent"] is refits["intent"].val_logits and kept["team"] is logits["team"]
    served = predict_probs(model, data, torch.device("cpu"))["intent"]
    np.testing.assert_allclose(served, softmax(kept["intent"]), atol=1e-5)

    weight = model.heads["intent"].weight.clone()
    _, report = keep_refits(model, fit_refits(model, ["intent"], data, data, {}, x), kept, {}, data.labels)
    assert not report["intent"]["kept"] and torch.equal(model.heads["intent"].weight, weight)  # a tie keeps the head


def test_a_refit_is_judged_as_served_beside_the_lexical_member(setup):
    model, data, logits, x = setup
    y = data.labels["intent"]
    perfect = np.full(logits["intent"].shape, -20.0)
    perfect[np.arange(len(y)), y] = 0.0  # a lexical member that alone gets every query right
    refits = fit_refits(model, ["intent"], data, data, {"intent": perfect}, x)
    _, report = keep_refits(model, refits, logits, {"intent": perfect}, data.labels)
    assert report["intent"]["served_trained"] == report["intent"]["served_refit"] == 1.0
    assert not report["intent"]["kept"] and untouched(model)


def test_the_refit_strength_is_scored_as_served_beside_the_lexical_member(setup):
    model, data, logits, x = setup
    shuffled = np.random.default_rng(0).permutation(data.labels["intent"])  # labels the embeddings cannot tell
    val = Encoded(data.ids, {**data.labels, "intent": shuffled})
    member = np.full(logits["intent"].shape, -20.0)
    member[np.arange(len(shuffled)), shuffled] = 0.0
    alone = fit_refits(model, ["intent"], data, val, {}, x)["intent"].tried
    served = fit_refits(model, ["intent"], data, val, {"intent": member}, x)["intent"].tried
    assert len(alone) > 1 and max(alone.values()) < 0.6 and set(served.values()) == {1.0}


def test_a_head_without_labelled_rows_is_not_refitted(setup):
    model, data, _, x = setup
    assert fit_refits(model, ["team", "vulnerable"], data, data, {}, x) == {}


def test_train_refuses_an_unknown_head_before_any_work(data_dir):
    result = CliRunner().invoke(app, ["train", "--refit-heads", "intent,mood"])
    assert result.exit_code == 2
    assert "--refit-heads: unknown head(s) mood" in result.output and "Fix:" in result.output
    assert not data_dir.exists()
