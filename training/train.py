"""Fine-tune the multi-task model: seeded, early-stopped, checkpointed, on CPU or GPU."""

from __future__ import annotations

import logging
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm.auto import tqdm

from teller.classifier import head_tail
from teller.masking import model_view
from teller.settings import get_settings
from teller.taxonomy import HEADS, Taxonomy
from training.corpus import DataConfig
from training.data import Example
from training.metrics import HeadPredictions, head_metrics
from training.model import MultiTaskModel, encoder_path

log = logging.getLogger(__name__)
IGNORE = -100


class TrainConfig(BaseModel):
    """Hyper-parameters of one training run (a profile is a named preset of these)."""

    model_config = ConfigDict(extra="forbid")
    profile: str = Field("custom", description="Name of the preset this config came from.")
    data: DataConfig = Field(default_factory=DataConfig, description="Sources and split sizes.")
    encoder: str | None = Field(None, description="Encoder weights directory; None = packaged MiniLM.")
    max_length: int = Field(128, ge=8, le=512, description="Tokens per text the model sees.")
    tail_tokens: int = Field(
        0, ge=0, description="Of max_length, tokens taken from the end of a long text (head+tail); 0: head only."
    )
    task_batches: bool = Field(
        True, description="Batches hold one task each (complaints or chat queries), so short queries are not padded."
    )
    ensemble: bool = Field(
        True,
        description="Pool the encoder with a TF-IDF model per head, weighted on validation, and decide team and"
        " issue as the best allowed pair when that helps on validation.",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Training arithmetic: 'auto' trains in bf16 autocast on GPUs and on CPUs with native bf16"
        " (AVX512-BF16, AMX), else fp32. Validation and the exported model are fp32 either way.",
    )
    encoder_complaints: int | None = Field(
        None,
        ge=1,
        description="At most this many training complaints fine-tune the encoder (agents' corrections first, then a"
        " fixed subset); the lexical member and the baselines, cheap to fit, read them all. None: all.",
    )
    frozen_layers: int = Field(
        0, ge=0, description="Bottom encoder layers (with the embeddings) left as pre-trained: less to train."
    )
    refit_heads: list[Literal["team", "issue", "vulnerable", "intent"]] = Field(
        default_factory=lambda: ["intent"],
        description="Heads refitted after fine-tuning by a logistic regression, trained to convergence, on the"
        " encoder's pooled embeddings; a refit is kept where it scores higher on validation, pooled with the lexical"
        " member.",
    )
    epochs: int = Field(3, ge=1, description="Maximum passes over the training split.")
    batch_size: int = Field(32, ge=1, description="Examples per optimiser step (before accumulation).")
    grad_accum: int = Field(1, ge=1, description="Batches accumulated per optimiser step.")
    lr: float = Field(8e-5, gt=0, description="Peak learning rate of the encoder.")
    head_lr: float = Field(2e-3, gt=0, description="Peak learning rate of the heads.")
    weight_decay: float = Field(0.01, ge=0)
    layer_decay: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Layer-wise learning-rate decay: each encoder layer's peak rate is this times the rate of the"
        " layer above it (the embeddings lowest); 1: one rate for the whole encoder.",
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Share of each target spread over the other classes (noisy labels); 0: none."
    )
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Share of steps spent warming up the LR.")
    dropout: float = Field(0.1, ge=0, lt=1)
    balance: Literal["none", "class_weights", "upsample"] = Field(
        "class_weights", description="How class imbalance is handled."
    )
    patience: int = Field(1, ge=0, description="Epochs without validation gain before stopping.")
    evals_per_epoch: int = Field(1, ge=1, description="Validation passes per epoch (early-stopping checks).")
    vulnerable_target_recall: float = Field(
        0.70, gt=0, le=1, description="Recall the vulnerable threshold aims for on validation: the go-live aim."
    )
    seed: int = 13
    device: str = Field("auto", description="'auto', 'cpu' or 'cuda'.")
    baselines: list[Literal["tfidf", "frozen"]] = Field(default_factory=lambda: ["tfidf", "frozen"])


PROFILES: dict[str, dict] = {
    # About 10 minutes on a 2-core CPU, masking included: the encoder reads a subset of complaints, two short epochs.
    "quick": {
        "data": {"cfpb_limits": {"val": 600, "test": 1200}, "out_of_scope_limit": 800},
        "encoder_complaints": 3000,
        "max_length": 96,
        "epochs": 2,
        "baselines": ["tfidf"],
    },
    # The best model this machine trains in about an hour: all data, 192 tokens (most of a median narrative), every
    # head's refit tried (each kept where validation gains; the quick profile refits intent only, for time).
    "full": {"max_length": 192, "epochs": 3, "patience": 1, "refit_heads": list(HEADS)},
}


def profile_config(name: str, **overrides) -> TrainConfig:
    """A TrainConfig from a named profile, with overrides applied on top (nested settings merged key by key)."""
    if name not in PROFILES:
        raise KeyError(name)
    return TrainConfig.model_validate({**_merged(PROFILES[name], overrides), "profile": name})


def _merged(base: dict, over: dict) -> dict:
    nested = {k: _merged(base[k], v) for k, v in over.items() if isinstance(v, dict) and isinstance(base.get(k), dict)}
    return {**base, **over, **nested}


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def mixed_precision(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for training: bf16 where the hardware has it (fp16 on older GPUs), None for fp32."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" or cpu_has_bf16() else None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Encoded:
    """Token ids and per-head label indices (IGNORE where unlabelled) of a split."""

    ids: list[list[int]]
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)


def label_index(examples: list[Example], taxonomy: Taxonomy) -> dict[str, np.ndarray]:
    """Map every head's labels to class indices, IGNORE where the example has no label."""
    out = {}
    for head in HEADS:
        index = {name: i for i, name in enumerate(taxonomy.labels(head))}
        values = [e.label(head) for e in examples]
        if head == "vulnerable":
            out[head] = np.array([IGNORE if v is None else int(v) for v in values])
        else:
            out[head] = np.array([IGNORE if v is None else index[v] for v in values])
    return out


def encode(examples: list[Example], tokenizer, taxonomy: Taxonomy, max_length: int, tail_tokens: int = 0) -> Encoded:
    """Token ids cut as the bundle's runtime cuts them (head, or head + tail), and label indices."""
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    encodings = backend.encode_batch([model_view(e.text) for e in examples]) if examples else []
    ids = [head_tail(e.ids, max_length, tail_tokens) for e in encodings]
    return Encoded(ids, label_index(examples, taxonomy))


def length_batches(
    lengths: list[int], batch_size: int, rng: random.Random | None, groups: list[int] | None = None
) -> list[list[int]]:
    """Batches of similar length (far less padding), never mixing groups; shuffled when an rng is given."""
    groups = groups or [0] * len(lengths)
    batches = []
    for group in sorted(set(groups)):
        order = [i for i in range(len(lengths)) if groups[i] == group]
        if rng is None:
            order.sort(key=lambda i: lengths[i])
            batches += [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
            continue
        rng.shuffle(order)
        chunk = batch_size * 50
        for start in range(0, len(order), chunk):
            part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
            batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def collate(ids: list[list[int]], rows: list[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids[r]) for r in rows)
    input_ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, : len(ids[r])] = torch.tensor(ids[r])
        mask[i, : len(ids[r])] = 1
    return input_ids.to(device), mask.to(device)


def encoder_groups(model: MultiTaskModel, lr: float, decay: float) -> list[dict]:
    """Optimiser groups of the trainable encoder parameters: the top layer (and pooler) at `lr`, each layer below
    at `decay` times the rate above it, the embeddings lowest (Sun et al. 2019)."""
    layers = len(model.encoder.encoder.layer)
    groups: dict[int, list] = {}
    for name, param in model.named_parameters():
        if name.startswith("heads.") or not param.requires_grad:
            continue
        match = re.match(r"encoder\.encoder\.layer\.(\d+)\.", name)
        depth = 0 if name.startswith("encoder.embeddings.") else int(match[1]) + 1 if match else layers
        groups.setdefault(depth, []).append(param)
    return [{"params": p, "lr": lr * decay ** (layers - d)} for d, p in sorted(groups.items())]


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Square-root inverse-frequency weights, mean 1 over the classes that occur."""
    counts = np.bincount(labels[labels != IGNORE], minlength=n_classes).astype(float)
    weights = np.where(counts > 0, np.sqrt(counts.sum() / np.maximum(counts, 1) / n_classes), 0.0)
    present = weights > 0
    weights[present] /= weights[present].mean()
    weights[~present] = 1.0
    return torch.tensor(weights, dtype=torch.float)


def upsample_weights(labels: dict[str, np.ndarray]) -> np.ndarray:
    """Per-example sampling weight: how far its rarest label sits below the median class size (max 4x)."""
    weights = np.ones(len(next(iter(labels.values()))))
    for y in labels.values():
        counts = Counter(y[y != IGNORE].tolist())
        if not counts:
            continue
        median = float(np.median(list(counts.values())))
        w = np.array([1.0 if v == IGNORE else min(4.0, max(1.0, median / counts[v])) for v in y])
        weights = np.maximum(weights, w)
    return weights


def predict_probs(model: MultiTaskModel, data: Encoded, device: torch.device) -> dict:
    """Softmax probabilities of every head for every row (in the split's order)."""
    return head_probs(model, embeddings(model, data, device))


@torch.no_grad()
def head_probs(model: MultiTaskModel, x: np.ndarray) -> dict[str, np.ndarray]:
    """Softmax probabilities of every head on pooled embeddings `x` (the model in eval mode: no dropout)."""
    pooled = torch.from_numpy(x).to(model.heads["team"].weight.device)
    return {h: torch.softmax(model.heads[h](pooled).float(), -1).cpu().numpy() for h in HEADS}


@torch.no_grad()
def embeddings(model: MultiTaskModel, data: Encoded, device: torch.device, desc: str | None = None) -> np.ndarray:
    """Mean-pooled encoder states of every row (in the split's order): what the linear heads read."""
    model.eval()
    out = np.zeros((len(data), model.encoder.config.hidden_size), dtype=np.float32)
    batches = length_batches([len(x) for x in data.ids], 64, None)
    for rows in tqdm(batches, desc=desc, unit="batch", disable=desc is None):
        out[rows] = model.embed(*collate(data.ids, rows, device)).float().cpu().numpy()
    return out


def head_predictions(
    probs: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    label_names: dict[str, list[str]],
    thresholds: dict[str, float] | None = None,
    texts: list[str] | None = None,
) -> dict[str, HeadPredictions]:
    """HeadPredictions for every head in `probs` that has labelled rows (label index != IGNORE)."""
    out = {}
    for head in probs:
        keep = labels[head] != IGNORE
        if keep.any():
            out[head] = HeadPredictions(
                head,
                label_names[head],
                labels[head][keep],
                probs[head][keep],
                (thresholds or {}).get(head),
                [t for t, k in zip(texts, keep, strict=True) if k] if texts else None,
            )
    return out


def selection_score(metrics: dict[str, dict]) -> float:
    """One number to early-stop and gate on: mean of team macro-F1, issue and intent accuracy, vulnerable PR AUC."""
    parts = [
        metrics.get("team", {}).get("macro_f1"),
        metrics.get("issue", {}).get("accuracy"),
        metrics.get("intent", {}).get("accuracy"),
        metrics.get("vulnerable", {}).get("pr_auc") or metrics.get("vulnerable", {}).get("roc_auc"),
    ]
    parts = [p for p in parts if p is not None]
    return float(np.mean(parts)) if parts else 0.0


@dataclass
class TrainResult:
    model: MultiTaskModel
    tokenizer: object
    best_score: float
    epochs_run: float
    history: list[dict]
    device: str
    val_embeddings: np.ndarray | None = None  # the best model's pooled validation embeddings, when this run made them


class Trainer:
    """The training loop: AdamW, warm-up + linear decay, early stopping, checkpoint and resume."""

    def __init__(self, config: TrainConfig, taxonomy: Taxonomy, run_dir: Path) -> None:
        self.config, self.taxonomy, self.run_dir = config, taxonomy, Path(run_dir)
        self._best_val_embeddings: np.ndarray | None = None
        self.device = pick_device(config.device)
        if self.device.type == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)

    def fit(self, train: list[Example], val: list[Example], resume: bool = False) -> TrainResult:
        from transformers import AutoTokenizer

        cfg = self.config
        seed_everything(cfg.seed)
        tokenizer = AutoTokenizer.from_pretrained(str(encoder_path()))
        tr = encode(train, tokenizer, self.taxonomy, cfg.max_length, cfg.tail_tokens)
        va = encode(val, tokenizer, self.taxonomy, cfg.max_length, cfg.tail_tokens)
        tasks = [int(e.intent is not None) for e in train] if cfg.task_batches else None
        sizes = {h: len(self.taxonomy.labels(h)) for h in HEADS}
        model = MultiTaskModel(sizes, cfg.encoder, cfg.dropout).to(self.device)
        model.freeze_bottom(cfg.frozen_layers)
        losses = {
            h: nn.CrossEntropyLoss(
                weight=class_weights(tr.labels[h], sizes[h]).to(self.device)
                if cfg.balance == "class_weights"
                else None,
                ignore_index=IGNORE,
                label_smoothing=cfg.label_smoothing,
            )
            for h in HEADS
        }
        head_params = [p for n, p in model.named_parameters() if n.startswith("heads.")]
        groups = [*encoder_groups(model, cfg.lr, cfg.layer_decay), {"params": head_params, "lr": cfg.head_lr}]
        optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        steps_per_epoch = math.ceil(len(tr) / cfg.batch_size / cfg.grad_accum)
        total = steps_per_epoch * cfg.epochs
        warmup = int(total * cfg.warmup_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / max(warmup, 1), max(0.0, (total - s) / max(total - warmup, 1)))
        )
        amp_dtype = mixed_precision(self.device, cfg.precision)
        use_amp = amp_dtype is not None
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

        state = {"epoch": 0, "best": -1.0, "bad": 0, "history": []}
        ckpt, best_path = self.run_dir / "checkpoint.pt", self.run_dir / "best.pt"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume and ckpt.exists():
            saved = torch.load(ckpt, map_location=self.device, weights_only=False)
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            state = saved["state"]
            log.info("resumed from %s at epoch %d", ckpt, state["epoch"])

        sample_w = upsample_weights(tr.labels) if cfg.balance == "upsample" else None
        lengths = [len(x) for x in tr.ids]
        while state["epoch"] < cfg.epochs and not self._should_stop(state):
            epoch = state["epoch"]
            rng = random.Random(cfg.seed + epoch)
            if sample_w is not None:
                picks = rng.choices(range(len(tr)), weights=sample_w, k=len(tr))
                picked_tasks = [tasks[i] for i in picks] if tasks else None
                batches = [
                    [picks[i] for i in b]
                    for b in length_batches([lengths[i] for i in picks], cfg.batch_size, rng, picked_tasks)
                ]
            else:
                batches = length_batches(lengths, cfg.batch_size, rng, tasks)
            eval_at = {round(len(batches) * k / cfg.evals_per_epoch) for k in range(1, cfg.evals_per_epoch + 1)}
            model.train()
            bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch")
            running = 0.0
            for step, rows in enumerate(bar, start=1):
                input_ids, mask = collate(tr.ids, rows, self.device)
                with torch.autocast(self.device.type, dtype=amp_dtype, enabled=use_amp):
                    logits = model(input_ids, mask)
                loss = torch.zeros((), device=self.device)
                for head, z in zip(HEADS, logits, strict=True):
                    y = torch.as_tensor(tr.labels[head][rows], device=self.device)
                    if (y != IGNORE).any():
                        loss = loss + losses[head](z.float(), y)
                scaler.scale(loss / cfg.grad_accum).backward()
                if step % cfg.grad_accum == 0 or step == len(batches):
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    scheduler.step()
                running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
                bar.set_postfix(loss=f"{running:.3f}")
                if step in eval_at:
                    self._validate(model, va, state, epoch + step / len(batches), best_path)
                    model.train()
            state["epoch"] = epoch + 1
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "state": state,
                },
                ckpt,
            )
        model.load_state_dict(torch.load(best_path, map_location=self.device))
        model.eval()
        result = TrainResult(model, tokenizer, state["best"], state["epoch"], state["history"], str(self.device))
        result.val_embeddings = self._best_val_embeddings
        return result

    def _should_stop(self, state: dict) -> bool:
        return state["bad"] > self.config.patience

    def _validate(self, model: MultiTaskModel, va: Encoded, state: dict, epoch: float, best_path: Path) -> None:
        x = embeddings(model, va, self.device)
        probs = head_probs(model, x)
        names = {h: self.taxonomy.labels(h) for h in HEADS}
        metrics = {h: head_metrics(p) for h, p in head_predictions(probs, va.labels, names).items()}
        score = selection_score(metrics)
        summary = {h: round(m["accuracy"], 4) for h, m in metrics.items()}
        state["history"].append({"epoch": round(epoch, 3), "score": score, "accuracy": summary})
        log.info("validation at epoch %.2f: score %.4f %s", epoch, score, summary)
        tqdm.write(f"validation at epoch {epoch:.2f}: score {score:.4f} accuracy {summary}")
        if score > state["best"]:
            state["best"], state["bad"] = score, 0
            torch.save(model.state_dict(), best_path)
            self._best_val_embeddings = x
        else:
            state["bad"] += 1


def run_directory(profile: str, data_fingerprint: str) -> Path:
    """Where a run of `profile` on the data with this fingerprint keeps its checkpoint and best weights."""
    return get_settings().data_dir / "runs" / f"{profile}-{data_fingerprint[:12]}"


def load_trained(run_dir: Path, config: TrainConfig, taxonomy: Taxonomy) -> TrainResult:
    """The best model of a finished run directory, as `Trainer.fit` returned it (for a later pipeline step)."""
    from transformers import AutoTokenizer

    device = pick_device(config.device)
    model = MultiTaskModel({h: len(taxonomy.labels(h)) for h in HEADS}, config.encoder, config.dropout).to(device)
    model.load_state_dict(torch.load(Path(run_dir) / "best.pt", map_location=device))
    model.eval()
    state = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_path()))
    return TrainResult(model, tokenizer, state["best"], state["epoch"], state["history"], str(device))
