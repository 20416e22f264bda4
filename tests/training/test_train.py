"""Model tests on one tiny real training run (MiniLM fine-tuned on a few hundred rows)."""

import json
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from teller.bundle import load_bundle
from teller.io import read_jsonl
from training.train import class_weights, length_batches, profile_config, upsample_weights

pytestmark = pytest.mark.slow


def _majority_rate(rows: list[dict], head: str) -> float:
    labels = [r[head] for r in rows if r[head] is not None]
    return Counter(labels).most_common(1)[0][1] / len(labels)


def test_tiny_run_beats_chance_by_a_clear_margin(tiny_bundle):
    test = read_jsonl(next((tiny_bundle["data_dir"] / "corpus").glob("*/test.jsonl")))
    metrics = tiny_bundle["test"]
    assert metrics["team"]["accuracy"] >= _majority_rate(test, "team") + 0.15
    assert metrics["intent"]["accuracy"] >= 10 * (1 / 78)
    assert metrics["team"]["macro_f1"] > 0.4
    assert metrics["vulnerable"]["recall"] >= 0.5


def test_bundle_is_complete_and_describes_itself(tiny_bundle):
    bundle = load_bundle(tiny_bundle["bundle"])
    for name in ("model.onnx", "model.int8.onnx", "labels.json", "metrics.json", "fingerprint.json", "MODEL_CARD.md"):
        assert (bundle.path / name).exists(), name
    assert bundle.info.heads == ["team_logits", "issue_logits", "vulnerable_logits", "intent_logits"]
    assert 0 < bundle.info.thresholds["vulnerable"] < 1
    assert bundle.info.data_fingerprint == json.loads((bundle.path / "fingerprint.json").read_text())["sha256"]
    assert bundle.info.default_variant in bundle.info.variants and (bundle.path / "model.opt.onnx").exists()
    assert "Model card" in (bundle.path / "MODEL_CARD.md").read_text()
    assert any((tiny_bundle["data_dir"] / "runs").glob("*/checkpoint.pt"))


def test_an_int8_decision_does_not_depend_on_the_texts_run_with_it_nor_on_the_threads(tiny_bundle):
    from teller.classifier import BundleClassifier

    bundle = load_bundle(tiny_bundle["bundle"])
    side_by_side, serial = (BundleClassifier(bundle, "int8", threads=n) for n in (2, 1))
    texts = [
        "I was charged a late fee.",
        "My credit report lists an account I never opened, and the bureau ignored my dispute for months.",
        "The debt collector keeps calling me at work about a debt that is not mine.",
    ]
    together = side_by_side.logits(texts)
    alone = [serial.logits([t]) for t in texts]
    solo = [side_by_side.logits([t]) for t in texts]  # a lone text runs on both threads
    assert side_by_side.one_per_run and (side_by_side.workers, serial.workers) == (2, 1)
    for head, z in together.items():
        assert np.array_equal(z, np.concatenate([a[head] for a in alone]))
        assert np.array_equal(z, np.concatenate([a[head] for a in solo]))
    served, reference = side_by_side.probabilities(texts), serial.probabilities(texts)
    for head, p in served.items():
        assert np.array_equal(p, reference[head]), head


def test_served_variant_keeps_fp32s_validation_decisions(tiny_bundle):
    """Recomputed from the bundle's files, not read back from its report: what the gate let through."""
    from teller.classifier import BundleClassifier
    from teller.taxonomy import load_taxonomy
    from training.corpus import Corpus
    from training.evaluate import predict_examples
    from training.export import QUANT_PLANS

    bundle = load_bundle(tiny_bundle["bundle"])
    assert tiny_bundle["parity"]["torch_vs_fp32_max_prob_diff"] < 1e-4
    tried = list(tiny_bundle["parity"]["validation"])  # fastest first, up to the first that passes
    assert [t for t in tried if t != "opt"] == list(QUANT_PLANS)[: len([t for t in tried if t != "opt"])]
    assert bundle.info.default_variant in ("int8", "opt")  # the fused fp32 graph is exact, so fp32 is never served
    val = Corpus.load(next((tiny_bundle["data_dir"] / "corpus").glob("*/val.jsonl")).parent).splits["val"]
    texts = [e.text for e in val]
    fp32, opt = (BundleClassifier(bundle, v).logits(texts) for v in ("fp32", "opt"))
    assert max(float(np.abs(fp32[h] - opt[h]).max()) for h in fp32) < 1e-4
    reference = predict_examples(bundle, val, load_taxonomy(), "fp32")
    served = predict_examples(bundle, val, load_taxonomy())
    for head, ref in reference.items():
        got = served[head]
        assert (ref.y_pred == got.y_pred).mean() >= 0.97, head
        if head == "vulnerable":
            positive = ref.y_true == 1
            assert got.y_pred[positive].mean() >= ref.y_pred[positive].mean() - 0.005
        else:
            assert (got.y_pred == got.y_true).mean() >= (ref.y_pred == ref.y_true).mean() - 0.005, head


def test_bundle_runs_without_torch(tiny_bundle):
    code = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ImportError('torch is not installed here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from teller.bundle import load_bundle\nfrom teller.classifier import BundleClassifier\n"
        f"b = load_bundle({str(tiny_bundle['bundle'])!r})\n"
        "p = BundleClassifier(b).probabilities(['my card has not arrived', 'XXXX keeps calling about a debt'])\n"
        "print({h: v.shape for h, v in p.items()}, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "'team_logits': (2, 5)" in out.stdout and "'intent_logits': (2, 78)" in out.stdout
    assert out.stdout.strip().endswith("False")  # nothing imported torch


def test_class_weights_favour_rare_classes_and_ignore_missing_labels():
    y = np.array([0] * 90 + [1] * 10 + [-100] * 50)
    w = class_weights(y, 3)
    assert w[1] > w[0] and w[2] == 1.0
    assert np.isclose(w[:2].mean(), 1.0)


def test_upsampling_weights_rare_examples_up_to_four_times():
    labels = {"team": np.array([0] * 80 + [1] * 40 + [2] * 5 + [-100] * 5)}
    w = upsample_weights(labels)
    assert w[0] == 1.0 and w[-1] == 1.0 and w[120] == 4.0


def test_length_batches_cover_every_row_once():
    lengths = [5, 80, 12, 7, 64, 3, 33]
    seeded = length_batches(lengths, 3, random.Random(1))
    assert sorted(i for b in seeded for i in b) == list(range(len(lengths)))
    ordered = length_batches(lengths, 3, None)
    assert [lengths[i] for b in ordered for i in b] == sorted(lengths)


def test_task_batches_never_mix_complaints_and_chat_queries():
    lengths = [random.Random(i).randint(3, 200) for i in range(100)]
    tasks = [i % 3 == 0 for i in range(100)]
    batches = length_batches(lengths, 8, random.Random(2), [int(t) for t in tasks])
    assert sorted(i for b in batches for i in b) == list(range(100))
    assert all(len({tasks[i] for i in b}) == 1 for b in batches)
    assert {tasks[b[0]] for b in batches[:6]} == {True, False}  # the tasks are interleaved, not one after the other


def test_bundle_pools_the_lexical_model_chosen_on_validation(tiny_bundle):
    bundle = load_bundle(tiny_bundle["bundle"])
    chosen = json.loads((bundle.path / "metrics.json").read_text())["ensemble"]
    expected = {h: r["chosen"] for h, r in chosen["weights"].items() if r["chosen"] > 0}
    assert bundle.info.ensemble == expected
    assert (bundle.path / "lexical.npz").exists() == bool(expected)
    tried = {k: sum(v.values()) for k, v in chosen["joint_team_issue"].items()}
    assert bundle.info.joint_team_issue == (tried["joint"] > tried["separate"])


def test_profiles_are_valid_configs():
    quick, full = profile_config("quick"), profile_config("full")
    assert quick.profile == "quick" and full.epochs >= quick.epochs
    assert quick.refit_heads == ["intent"] and full.refit_heads == ["team", "issue", "vulnerable", "intent"]
    fewer = profile_config("quick", epochs=1, data={"cfpb_limits": {"train": 3000}})
    assert fewer.epochs == 1 and fewer.data.cfpb_limits == {"val": 600, "test": 1200, "train": 3000}
    assert fewer.data.out_of_scope_limit == quick.data.out_of_scope_limit == 800
    with pytest.raises(KeyError):
        profile_config("huge")


def test_checkpoint_and_resume_continue_where_training_stopped(tmp_path):
    from teller.taxonomy import load_taxonomy
    from training.data import Example
    from training.train import TrainConfig, Trainer

    taxonomy = load_taxonomy()
    teams = taxonomy.team_labels
    train = [
        Example(f"complaint about {t} number {i}", "cfpb", team=t, vulnerable=i % 2)
        for i in range(40)
        for t in teams[:2]
    ]
    train += [Example(f"where is my card {i}", "banking77", intent="card_arrival") for i in range(10)]
    val = train[:12]
    config = TrainConfig(encoder="random", max_length=16, batch_size=8, epochs=1, baselines=[])
    first = Trainer(config, taxonomy, tmp_path).fit(train, val)
    assert first.epochs_run == 1 and (tmp_path / "checkpoint.pt").exists() and (tmp_path / "best.pt").exists()
    resumed = Trainer(config.model_copy(update={"epochs": 2}), taxonomy, tmp_path).fit(train, val, resume=True)
    assert resumed.epochs_run == 2
    assert [h["epoch"] for h in resumed.history] == [1.0, 2.0]


def test_frozen_layers_stay_as_pretrained_and_the_rest_trains(tmp_path):
    import torch

    from teller.taxonomy import load_taxonomy
    from training.data import Example
    from training.model import MultiTaskModel
    from training.train import TrainConfig, Trainer

    taxonomy = load_taxonomy()
    train = [
        Example(f"complaint about {t} number {i}", "cfpb", team=t) for i in range(16) for t in taxonomy.team_labels[:2]
    ]
    torch.manual_seed(0)
    initial = MultiTaskModel({h: len(taxonomy.labels(h)) for h in ("team", "issue", "vulnerable", "intent")}, "random")
    config = TrainConfig(encoder="random", max_length=16, batch_size=8, epochs=1, baselines=[], frozen_layers=1, seed=0)
    trained = Trainer(config, taxonomy, tmp_path).fit(train, train[:8]).model.state_dict()
    before = initial.state_dict()
    moved = {name for name, value in trained.items() if not torch.equal(value, before[name])}
    assert moved and all(n.startswith("heads.") or "pooler" in n for n in moved)  # the one layer is frozen too
    assert not any(n.startswith(("encoder.embeddings", "encoder.encoder.layer.0.")) for n in moved)


def test_layer_decay_gives_each_encoder_layer_a_lower_rate_than_the_one_above_and_skips_frozen_ones():
    from teller.taxonomy import HEADS
    from training.model import MultiTaskModel
    from training.train import encoder_groups

    model = MultiTaskModel({h: 3 for h in HEADS}, "random")  # embeddings, one layer, pooler
    groups = encoder_groups(model, 1.0, 0.5)
    assert [g["lr"] for g in groups] == [0.5, 1.0]
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].startswith("encoder.embeddings.") for p in groups[0]["params"])
    grouped = sorted(names[id(p)] for g in groups for p in g["params"])
    assert grouped == sorted(n for n in names.values() if not n.startswith("heads."))
    model.freeze_bottom(1)
    assert [g["lr"] for g in encoder_groups(model, 1.0, 0.5)] == [1.0]  # only the pooler still trains
    assert len(encoder_groups(model, 1.0, 1.0)) == 1


def test_a_run_keeps_its_best_models_validation_embeddings_and_the_heads_read_them(tmp_path):
    import numpy as np
    import torch

    from teller.taxonomy import HEADS, load_taxonomy
    from training.data import Example
    from training.train import TrainConfig, Trainer, collate, embeddings, encode, head_probs

    taxonomy = load_taxonomy()
    train = [
        Example(f"complaint about {t} number {i}", "cfpb", team=t) for i in range(16) for t in taxonomy.team_labels[:2]
    ]
    val = train[::3]
    config = TrainConfig(encoder="random", max_length=16, batch_size=8, epochs=2, baselines=[], seed=0)
    result = Trainer(config, taxonomy, tmp_path).fit(train, val)
    va = encode(val, result.tokenizer, taxonomy, config.max_length)
    kept = embeddings(result.model, va, torch.device("cpu"))
    np.testing.assert_allclose(result.val_embeddings, kept, atol=1e-5)
    with torch.no_grad():
        logits = result.model(*collate(va.ids, list(range(len(va))), torch.device("cpu")))
    for head, z in zip(HEADS, logits, strict=True):
        np.testing.assert_allclose(head_probs(result.model, kept)[head], torch.softmax(z, -1).numpy(), atol=1e-5)
