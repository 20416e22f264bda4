"""`teller labels evaluate`: hide Banking77 intents, add them back zero-shot, and score them on the test split.

The hidden intents are drawn by a fixed seed. Each comes back from a one-sentence description written from its
name ("A customer asks about card arrival.") and examples drawn from the training split; the background is the
whole training split (hidden intents included, unlabelled, as they would be in a real corpus) and the rival
centroids are the visible intents'. Banking77 queries hold no PII, so they are not masked here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from teller.errors import TellerError
from teller.io import write_json
from teller.settings import get_settings
from teller.taxonomy import load_taxonomy
from training.corpus import DataConfig, split_of
from training.data import iter_banking77
from training.labels.embed import embed
from training.labels.zeroshot import calibrate, centroids, leave_one_out, prototype, scores


def description(intent: str) -> str:
    """The one-sentence description an analyst might write, from the intent's name."""
    return f"A customer asks about {intent.replace('_', ' ').rstrip('?').lower()}."


def hidden_intents(intents: list[str], n: int, seed: int) -> list[str]:
    """`n` intents drawn by `seed` (sorted)."""
    if not 0 < n < len(intents):
        raise TellerError(f"cannot hide {n} of {len(intents)} intents", "--hide", f"use 1..{len(intents) - 1}")
    return sorted(random.Random(seed).sample(sorted(intents), n))


def _prf(pred: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((pred & truth).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-12), "support": int(truth.sum())}


def evaluate_hidden(
    path: Path | None = None,
    hide: int = 5,
    shots: int = 5,
    seed: int = 13,
    split: str = "test",
    contrast: bool = True,
    prevalence: float | None = None,
    background: int = 2000,
) -> dict:
    """Per hidden intent: the calibrated threshold, its expected precision, and measured P/R/F1 on `split`."""
    path = path or get_settings().shared_data_dir / "banking77" / "train.csv"
    if split not in ("val", "test"):
        raise TellerError(f"unknown split {split!r}", "--split", "use val (for choosing settings) or test")
    cfg = DataConfig.model_fields
    fractions = (cfg["val_fraction"].default, cfg["test_fraction"].default)
    by_split: dict[str, list] = defaultdict(list)
    for e in iter_banking77(path, load_taxonomy()):
        by_split[split_of(e.text, *fractions)].append(e)
    train, held = by_split["train"], by_split[split]
    hidden = hidden_intents(sorted({e.intent for e in train}), hide, seed)
    rng = random.Random(seed)
    chosen = {h: rng.sample([i for i, e in enumerate(train) if e.intent == h], shots) for h in hidden}
    used = {i for idx in chosen.values() for i in idx}
    x_train, x_held = embed([e.text for e in train]), embed([e.text for e in held])
    visible = [i for i, e in enumerate(train) if e.intent not in hidden]
    names, rivals = centroids(x_train[visible], [train[i].intent for i in visible])
    rivals_used = rivals if contrast else None
    pool = [i for i in range(len(train)) if i not in used]
    rng.shuffle(pool)
    prevalence = prevalence or 1 / (len(names) + 1)
    truth_labels = np.array([e.intent for e in held])
    per_label = {}
    for h in hidden:
        protos = np.vstack([embed([description(h)], cache=False), x_train[chosen[h]]])
        proto = prototype(protos)
        threshold = calibrate(
            leave_one_out(protos, rivals_used), scores(x_train[pool[:background]], proto, rivals_used), prevalence
        )
        pred = scores(x_held, proto, rivals_used) >= threshold.value
        per_label[h] = {
            "description": description(h),
            "examples": [train[i].text for i in chosen[h]],
            "threshold": round(threshold.value, 4),
            "expected_precision": round(threshold.expected_precision, 4),
            "flagged": int(pred.sum()),
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in _prf(pred, truth_labels == h).items()},
        }
    macro = {k: round(float(np.mean([m[k] for m in per_label.values()])), 4) for k in ("precision", "recall", "f1")}
    result = {
        "hidden": hidden,
        "seed": seed,
        "shots": shots,
        "split": split,
        "rows": len(held),
        "contrast": contrast,
        "prevalence": round(prevalence, 4),
        "per_label": per_label,
        "macro": macro,
    }
    write_json(get_settings().labels_dir / f"banking77-hidden-{split}-seed{seed}.json", result)
    return result


def format_table(result: dict) -> str:
    """The per-intent table the command prints."""
    head = f"{'hidden intent':<37}{'thresh':>8}{'exp.P':>7}{'P':>7}{'R':>7}{'F1':>7}{'flagged':>9}{'support':>9}"
    lines = [head]
    for name, m in result["per_label"].items():
        lines.append(
            f"{name:<37}{m['threshold']:>8.3f}{m['expected_precision']:>7.2f}{m['precision']:>7.2f}"
            f"{m['recall']:>7.2f}{m['f1']:>7.2f}{m['flagged']:>9}{m['support']:>9}"
        )
    mac = result["macro"]
    lines.append(f"{'macro':<37}{'':>8}{'':>7}{mac['precision']:>7.2f}{mac['recall']:>7.2f}{mac['f1']:>7.2f}")
    return "\n".join(lines)
