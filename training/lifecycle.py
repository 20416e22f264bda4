"""The whole training lifecycle: data -> train -> export -> evaluate -> baselines -> report -> register."""

from __future__ import annotations

import csv
import logging
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from teller.bundle import Bundle, BundleInfo, load_bundle
from teller.classifier import BundleClassifier, decide_jointly, pool, softmax
from teller.io import atomic_path, write_json
from teller.lexical import LexicalModel
from teller.settings import PROJECT_ROOT, get_settings
from teller.taxonomy import HEADS, load_taxonomy
from training.baselines import banking77_slice, run_baselines
from training.corpus import Corpus, build_corpus, encoder_rows
from training.data import Example
from training.ensemble import choose_ensemble, fit_lexical
from training.evaluate import predictions_from_probs
from training.export import (
    INT8_FILE,
    OPTIMISED_FILE,
    QUANT_PLANS,
    cpu_flags,
    export_onnx,
    judge,
    optimise,
    quantize_int8,
)
from training.metrics import head_metrics, threshold_for_recall
from training.refit import fit_refits, keep_refits
from training.train import (
    Encoded,
    TrainConfig,
    Trainer,
    TrainResult,
    embeddings,
    encode,
    head_probs,
    predict_probs,
    run_directory,
)
from training.validate import check_corpus, validate_sources

log = logging.getLogger(__name__)
INT8_MIN_AGREEMENT = 0.97  # served decisions per head that must match fp32's on validation
INT8_MAX_DROP = 0.005  # accuracy (vulnerable: recall) a head may lose against fp32 on validation
CALL_RATE_TEXTS = 32  # validation complaints timed one per call to choose between int8 and the fused fp32 graph
PARITY_TEXTS = 256  # test texts, evenly spaced, the torch model scores to check that the exported graph reproduces it


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_heldout(corpus: Corpus, directory: Path) -> dict[str, Path]:
    """The raw test split in the sources' own formats, so `teller evaluate --data` can re-score it."""
    test = corpus.splits["test"]
    out = {}
    complaints = [e.raw for e in test if e.source == "cfpb" and e.raw]
    if complaints:
        out["cfpb"] = directory / "cfpb_test.csv"
        with atomic_path(out["cfpb"]) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(complaints[0]))
            writer.writeheader()
            writer.writerows(complaints)
    for name, sources in (("banking77", {"banking77"}), ("intents_oos", {"banking77", "clinc150"})):
        rows = [(e.raw["text"], e.intent) for e in test if e.source in sources]
        if rows:
            out[name] = directory / f"{name}_test.csv"
            with atomic_path(out[name]) as tmp, tmp.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["text", "category"])
                writer.writerows(rows)
    return out


def model_card(info: BundleInfo, metrics: dict, baselines: dict, fingerprint: dict, parity_report: dict) -> str:
    lines = [
        f"# Model card: {info.name} {info.version}",
        "",
        "Multi-task classifier for Teller: routes CFPB-style complaints to a product team, predicts the issue,",
        "flags vulnerable customers (Older American / Servicemember), and classifies CSR chat intents",
        "(Banking77 + out-of-scope). Encoder: sentence-transformers all-MiniLM-L6-v2, fine-tuned; one linear",
        "head per task. Inputs are PII-masked with Presidio before the model sees them.",
        "",
        f"- Profile: `{info.profile}`, max length {info.max_length} tokens ({info.tail_tokens} from the end of long"
        f" texts), commit `{info.git_commit}`",
        "- Lexical ensemble weight per head (TF-IDF + vulnerability signals, chosen on validation): "
        f"{info.ensemble or 'none'}; team and issue decided jointly over allowed pairs: {info.joint_team_issue}",
        f"- Training data fingerprint: `{fingerprint['sha256'][:16]}`; rows per split: "
        + ", ".join(f"{k} {v['rows']}" for k, v in fingerprint["counts"].items()),
        f"- Served variant: `{info.default_variant}` (int8 plan: {parity_report.get('plan')}); int8 vs fp32 "
        f"label agreement on test {parity_report['test']['min_label_agreement']:.4f}",
        f"- Vulnerable threshold: {info.thresholds.get('vulnerable', 0.5):.4f} (chosen on validation for recall)",
        "",
        "## Test metrics (held-out split, never trained or tuned on)",
        "",
        "| head | accuracy | macro-F1 | " + " | ".join(f"{b} acc" for b in baselines) + " |",
        "|---|---|---|" + "---|" * len(baselines),
    ]
    for head, m in metrics.items():
        base = " | ".join(f"{baselines[b].get(head, {}).get('accuracy', float('nan')):.4f}" for b in baselines)
        lines.append(f"| {head} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {base} |")
    if "vulnerable" in metrics:
        v = metrics["vulnerable"]
        lines += [
            "",
            f"Vulnerable: recall {v['recall']:.4f}, precision {v['precision']:.4f}, PR AUC {v['pr_auc']:.4f}.",
        ]
    lines += [
        "",
        "## Limits",
        "- Trained on public CFPB narratives (2015-2025), Banking77 and CLINC150; the tagged share of vulnerable",
        "  customers is inflated by a payday-loan sample, so precision in production will be lower.",
        "- Text past the first max-length tokens is not seen. English only.",
        "- Decisions are advisory: low-confidence and vulnerable cases go to a human queue.",
    ]
    return "\n".join(lines) + "\n"


def call_rates(draft: Bundle, variants: tuple[str, ...], texts: list[str], rounds: int = 2) -> dict[str, float]:
    """Texts/s of each variant as served, one text per call (a lone request); interleaved rounds, best kept."""
    classifiers = {v: BundleClassifier(draft, v) for v in variants}
    best = dict.fromkeys(variants, 0.0)
    for c in classifiers.values():
        c.probabilities(texts[:1])  # warm-up
    for _ in range(rounds):
        for variant, classifier in classifiers.items():
            start = time.perf_counter()
            for text in texts:
                classifier.probabilities([text])
            best[variant] = max(best[variant], len(texts) / (time.perf_counter() - start))
    return best


def gate_int8(draft: Bundle, val: list[Example], test: list[Example], taxonomy) -> tuple[dict, dict]:
    """Pick the served variant: the first int8 plan (fastest first) whose validation decisions stay within
    INT8_MAX_DROP of fp32 per head and agree with fp32's on INT8_MIN_AGREEMENT, unless the fused fp32 graph serves
    a lone complaint faster; else the fused fp32 graph.

    Every candidate tried is reported; the int8 file kept is the chosen plan's, else the most faithful one (not
    served). Returns the report and the encoder logits on the test split per variant compared there.
    """

    def decisions(variant: str, split: str) -> dict:
        rows, classifier = splits[split], BundleClassifier(draft, variant)
        texts = [e.text for e in rows]
        logits = classifier.logits(texts)
        if split == "test":
            test_logits[variant] = logits
        probs = classifier.probabilities(texts, logits=logits)
        return predictions_from_probs(draft, probs, rows, taxonomy)

    def verdict(variant: str) -> dict:
        start = time.perf_counter()
        out = judge(reference, decisions(variant, "val"), INT8_MIN_AGREEMENT, INT8_MAX_DROP)
        out["texts_per_s"] = len(val) / (time.perf_counter() - start)
        tqdm.write(f"{variant}: validation agreement {out['min_label_agreement']:.4f}, failures {out['failures']}")
        return out

    splits, test_logits = {"val": val, "test": test}, {}
    reference = decisions("fp32", "val")
    optimise(draft.onnx_path("fp32"), draft.path / OPTIMISED_FILE)
    draft.info.variants["opt"] = OPTIMISED_FILE
    sources = {"fp32": draft.onnx_path("fp32"), "opt": draft.onnx_path("opt")}
    criteria = {"max_drop": INT8_MAX_DROP, "min_label_agreement": INT8_MIN_AGREEMENT}
    report: dict = {"criteria": criteria, "cpu": cpu_flags(), "validation": {}}
    for name, plan in QUANT_PLANS.items():  # fastest first: stop at the first plan that passes
        draft.info.variants["int8"] = quantize_int8(sources[plan.graph], draft.path / f"int8.{name}.onnx", plan).name
        report["validation"][name] = verdict("int8")
        if report["validation"][name]["passed"]:
            break
    tried = list(report["validation"])
    report["validation"]["opt"] = verdict("opt")
    # Dynamic int8 scales activations by the batch, so the int8 graph runs one text per call (as judged here).
    report["plan"] = next((c for c in tried if report["validation"][c]["passed"]), None)
    report["variant"] = "int8" if report["plan"] else "opt" if report["validation"]["opt"]["passed"] else "fp32"
    if report["variant"] == "int8" and report["validation"]["opt"]["passed"]:
        # A plan that keeps much in fp32 can answer a lone complaint slower than the fused fp32 graph.
        complaints = [e.text for e in val if e.team is not None][:CALL_RATE_TEXTS] or [e.text for e in val[:8]]
        report["call_texts_per_s"] = call_rates(draft, ("int8", "opt"), complaints)
        if report["call_texts_per_s"]["opt"] > report["call_texts_per_s"]["int8"]:
            report["variant"] = "opt"
    faithful = max(tried, key=lambda c: report["validation"][c]["min_label_agreement"])
    for name in tried:
        file = draft.path / f"int8.{name}.onnx"
        if name == (report["plan"] or faithful):
            file.replace(draft.path / INT8_FILE)
        else:
            file.unlink()
    draft.info.variants["int8"] = INT8_FILE
    compared = report["variant"] if report["variant"] != "fp32" else "int8"
    report["test"] = judge(decisions("fp32", "test"), decisions(compared, "test"), INT8_MIN_AGREEMENT, INT8_MAX_DROP)
    report["test"]["variant"] = compared
    return report, test_logits


@dataclass
class Prepared:
    """A validated, masked, split corpus saved where later stages (and MLflow) read it."""

    corpus: Corpus
    split_dir: Path
    heldout: dict[str, Path]


def prepare(config: TrainConfig, validated: bool = False) -> Prepared:
    """Validate the sources (unless a pipeline step already did), then load, mask and split them; fail on leakage;
    save the splits and held-out files."""
    settings = get_settings()
    taxonomy = load_taxonomy()
    if not validated:
        validate_sources(config.data, taxonomy)
    corpus = build_corpus(config.data, taxonomy)
    corpus.fingerprint["overlap_with_train"] = check_corpus(corpus)
    split_dir = settings.data_dir / "corpus" / corpus.fingerprint["sha256"][:12]
    corpus.save(split_dir)
    heldout = write_heldout(corpus, settings.data_dir / "heldout")
    return Prepared(corpus, split_dir, heldout)


def fit(config: TrainConfig, corpus: Corpus, resume: bool = False, run_dir: Path | None = None) -> TrainResult:
    """Fine-tune on the train split (the encoder's rows of it) with early stopping on validation; checkpoints live
    in the run directory."""
    run_dir = run_dir or run_directory(config.profile, corpus.fingerprint["sha256"])
    train = encoder_rows(corpus.splits["train"], config.encoder_complaints)
    return Trainer(config, load_taxonomy(), run_dir).fit(train, corpus.splits["val"], resume=resume)


def train_and_package(config: TrainConfig, resume: bool = False, register: bool = True) -> dict:
    """Run the lifecycle end to end; returns a summary with the bundle path and test metrics."""
    started = time.time()
    prepared = prepare(config)
    result = fit(config, prepared.corpus, resume)
    summary = package(config, prepared.corpus, result)
    summary["minutes"] = round((time.time() - started) / 60, 1)
    summary["heldout"] = {k: str(v) for k, v in prepared.heldout.items()}
    if register:
        summary["registered_version"] = register_bundle(config, summary, prepared.split_dir, result.history)
    return summary


@dataclass
class Ensemble:
    """The lexical member and the decision rules chosen on validation (empty when the config turns it off)."""

    lexical: LexicalModel | None = None
    weights: dict[str, float] = field(default_factory=dict)
    joint_team_issue: bool = False
    report: dict = field(default_factory=dict)


def fit_ensemble(lexical: LexicalModel | None, lex: dict[str, np.ndarray], va: Encoded, val_logits: dict) -> Ensemble:
    """Choose the lexical member's weight per head and the joint team-issue decision on validation (`lex`: its
    validation log-probabilities)."""
    if lexical is None:
        return Ensemble()
    weights, joint, report = choose_ensemble(val_logits, lex, va.labels, load_taxonomy())
    tqdm.write(f"ensemble (validation): lexical weights {weights}, team and issue decided jointly: {joint}")
    kept = LexicalModel(lexical.vocabulary, lexical.idf, {h: lexical.heads[h] for h in weights})
    return Ensemble(kept if weights else None, weights, joint, report)


def refit(
    config: TrainConfig,
    result: TrainResult,
    train: list[Example],
    va: Encoded,
    x_val: np.ndarray,
    val_logits: dict[str, np.ndarray],
    lex: dict[str, np.ndarray],
) -> tuple[dict, dict]:
    """Refit the configured heads on the fine-tuned embeddings (`x_val`: validation's), keeping each refit that is
    better on validation pooled with the lexical member (`lex`: its validation log-probabilities); returns the
    validation logits as the model now gives them and the report."""
    rows = [e for e in train if any(e.label(h) is not None for h in config.refit_heads)]
    tr = encode(rows, result.tokenizer, load_taxonomy(), config.max_length, config.tail_tokens)
    refits = fit_refits(result.model, config.refit_heads, tr, va, lex, x_val)
    return keep_refits(result.model, refits, val_logits, lex, va.labels)


def served_val_probs(val_logits: dict[str, np.ndarray], ensemble: Ensemble, val: list[Example]) -> dict:
    """Validation probabilities as the bundle will serve them (pooled, team and issue joint) to set thresholds on."""
    lexical = ensemble.lexical.log_probs([e.text for e in val]) if ensemble.lexical else {}
    probs = pool(val_logits, lexical, ensemble.weights)
    if ensemble.joint_team_issue:
        probs["team"], probs["issue"] = decide_jointly(probs["team"], probs["issue"], load_taxonomy().issue_mask)
    return probs


def write_bundle(
    directory: Path, config: TrainConfig, corpus: Corpus, result: TrainResult, info: BundleInfo, ensemble: Ensemble
) -> Bundle:
    """The bundle's files: ONNX encoder, tokenizer, lexical member, labels, identity and data fingerprint."""
    taxonomy = load_taxonomy()
    directory.mkdir()
    export_onnx(result.model, directory / "model.onnx")
    result.tokenizer.save_pretrained(str(directory / "tokenizer"))
    if ensemble.lexical:
        ensemble.lexical.save(directory)
    write_json(directory / "bundle.json", info.model_dump())
    write_json(
        directory / "labels.json",
        {
            "heads": {h: taxonomy.labels(h) for h in HEADS},
            "issue_teams": taxonomy.issue_teams,
            "topics": {i: taxonomy.topic_for_intent(i) for i in taxonomy.intent_labels},
            "handoff_topics": [
                t for t in [*taxonomy.topics, taxonomy.out_of_scope_intent] if taxonomy.is_handoff_topic(t)
            ],
        },
    )
    write_json(directory / "fingerprint.json", corpus.fingerprint)
    return Bundle(directory, info, {h: taxonomy.labels(h) for h in HEADS})


def test_metrics(
    draft: Bundle, test: list[Example], result: TrainResult, config: TrainConfig, parity_report: dict, logits: dict
):
    """Served-variant predictions and metrics on the test split (from the gate's test `logits`, which hold the served
    variant's and fp32's); records torch vs ONNX parity on about PARITY_TEXTS of them in the report."""
    taxonomy = load_taxonomy()
    texts = [e.text for e in test]
    served = draft.info.default_variant
    served_probs = BundleClassifier(draft).probabilities(texts, logits=logits[served])
    step = max(1, len(test) // PARITY_TEXTS)  # complaints and chat queries alike
    te = encode(test[::step], result.tokenizer, taxonomy, config.max_length, config.tail_tokens)
    torch_probs = predict_probs(result.model, te, result.model.heads["team"].weight.device)
    parity_report["torch_vs_fp32_max_prob_diff"] = max(
        float(np.abs(torch_probs[h] - softmax(logits["fp32"][f"{h}_logits"][::step])).max()) for h in HEADS
    )
    predictions = predictions_from_probs(draft, served_probs, test, taxonomy)
    metrics = {h: head_metrics(p) for h, p in predictions.items()}
    if "intent" in predictions:
        p = predictions["intent"]
        metrics.update(
            banking77_slice(test, np.array([e.intent is not None for e in test]), p.y_true, p.probs, taxonomy)
        )
    return predictions, metrics


def package(config: TrainConfig, corpus: Corpus, result: TrainResult) -> dict:
    """Export the trained model as a bundle (ONNX, lexical member, int8 gate, metrics, card), run baselines,
    write the report."""
    settings = get_settings()
    taxonomy = load_taxonomy()
    train, val, test = (corpus.splits[s] for s in ("train", "val", "test"))
    va = encode(val, result.tokenizer, taxonomy, config.max_length, config.tail_tokens)
    x_val = result.val_embeddings  # a resumed finished run made none
    if x_val is None:
        x_val = embeddings(result.model, va, result.model.heads["team"].weight.device, "validation embeddings")
    val_logits = {h: np.log(np.clip(p, 1e-12, None)) for h, p in head_probs(result.model, x_val).items()}
    lexical = fit_lexical(train, taxonomy) if config.ensemble else None
    lex = lexical.log_probs([e.text for e in val]) if lexical else {}  # scored once for the refit and the weights
    val_logits, refit_report = refit(config, result, train, va, x_val, val_logits, lex)
    ensemble = fit_ensemble(lexical, lex, va, val_logits)
    served = served_val_probs(val_logits, ensemble, val)
    keep = va.labels["vulnerable"] >= 0
    threshold = threshold_for_recall(
        va.labels["vulnerable"][keep], served["vulnerable"][keep, 1], config.vulnerable_target_recall
    )

    version = datetime.now(UTC).strftime("%Y%m%d.%H%M%S")
    info = BundleInfo(
        name=settings.registered_model,
        version=version,
        git_commit=git_commit(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        profile=config.profile,
        max_length=config.max_length,
        tail_tokens=config.tail_tokens,
        heads=[f"{h}_logits" for h in HEADS],
        thresholds={"vulnerable": threshold},
        variants={"fp32": "model.onnx", "int8": "model.int8.onnx"},
        default_variant="fp32",
        data_fingerprint=corpus.fingerprint["sha256"],
        taxonomy_version=taxonomy.version,
        ensemble=ensemble.weights,
        joint_team_issue=ensemble.joint_team_issue,
    )
    bundle_dir = settings.bundles_dir / version
    with atomic_path(bundle_dir) as tmp:
        draft = write_bundle(tmp, config, corpus, result, info, ensemble)
        parity_report, logits = gate_int8(draft, val, test, taxonomy)
        info.default_variant = parity_report["variant"]
        write_json(tmp / "bundle.json", info.model_dump())
        predictions, metrics = test_metrics(draft, test, result, config, parity_report, logits)
        write_json(tmp / "parity.json", parity_report)
        write_json(
            tmp / "metrics.json",
            {"test": metrics, "history": result.history, "refit": refit_report, "ensemble": ensemble.report},
        )
        baselines = _baselines(config, train, val, test, taxonomy)
        (tmp / "MODEL_CARD.md").write_text(model_card(info, metrics, baselines, corpus.fingerprint, parity_report))
    from training.report import write_report

    report_dir = settings.data_dir / "reports" / version
    write_report(
        report_dir,
        f"Teller {config.profile} model {version} on its held-out test split",
        metrics,
        predictions,
        baselines,
        corpus.distributions,
    )
    return {
        "bundle": str(bundle_dir),
        "version": version,
        "profile": config.profile,
        "device": result.device,
        "epochs": result.epochs_run,
        "variant": info.default_variant,
        "refit": {h: r["kept"] for h, r in refit_report.items()},
        "ensemble": {"weights": ensemble.weights, "joint_team_issue": ensemble.joint_team_issue},
        "parity": parity_report,
        "report": str(report_dir / "REPORT.md"),
        "test": metrics,
        "baselines": baselines,
    }


def register_bundle(config: TrainConfig, summary: dict, split_dir: Path, history: list[dict]) -> str:
    """Log the run (parameters, data fingerprint, code version, metrics, report) and register it as challenger."""
    from training.registry import log_and_register

    report_dir = Path(summary["report"]).parent
    bundle = load_bundle(summary["bundle"])
    return log_and_register(
        bundle, config.model_dump(mode="json"), summary["test"], summary["baselines"], report_dir, split_dir, history
    )


def _baselines(config: TrainConfig, train, val, test, taxonomy) -> dict:
    tqdm.write(f"baselines: {', '.join(config.baselines) or 'none'}")
    return run_baselines(
        config.baselines, train, val, test, taxonomy, config.vulnerable_target_recall, config.max_length
    )
