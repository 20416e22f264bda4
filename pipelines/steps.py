"""What each pipeline component does, as plain functions over local paths; components only move artifacts.

Every function calls into `training` or `rag`; nothing here decides anything the CLI would decide differently.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

from teller.errors import TellerError
from teller.io import write_json
from teller.settings import KBSource, get_settings
from teller.taxonomy import load_taxonomy
from training.corpus import Corpus
from training.train import TrainConfig, load_trained, profile_config


def step(func):
    """A step's user-facing error ends the component with its message (what, where, fix), not a stack trace."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TellerError as exc:
            raise SystemExit(f"error: {exc.message}") from None

    return run


def use_tracking(uri: str) -> None:
    """Point MLflow at the run's tracking server (empty: the local default)."""
    if uri:
        os.environ["MLFLOW_TRACKING_URI"] = uri
        get_settings.cache_clear()


def config_for(profile: str, overrides: dict, corrections: Path | None = None) -> TrainConfig:
    """The run's TrainConfig: a named profile with overrides (e.g. data paths), plus agents' corrections if any."""
    config = profile_config(profile, **overrides)
    if corrections is not None:
        config.data.corrections = corrections
    return config


@step
def validate(profile: str, overrides: dict) -> dict[str, float]:
    """Read every source once; a bad file raises DataError naming the file, row and fix. Returns rows per source."""
    from training.validate import validate_sources

    report = validate_sources(config_for(profile, overrides).data, load_taxonomy())
    return {f"{name}_rows": float(r["rows"]) for name, r in report.items()}


@step
def prepare(profile: str, overrides: dict, out: Path, corrections: Path | None = None) -> dict[str, float | str]:
    """Mask and split the data (leakage-checked) into `out`; returns its fingerprint and split sizes."""
    from training.lifecycle import prepare as prepare_corpus

    # validate-data already read the base sources; a bad corrections file still fails inside the loader
    prepared = prepare_corpus(config_for(profile, overrides, corrections), validated=True)
    shutil.copytree(prepared.split_dir, out, dirs_exist_ok=True)
    sizes = {name: float(len(rows)) for name, rows in prepared.corpus.splits.items()}
    return {"sha256": prepared.corpus.fingerprint["sha256"], **sizes}


@step
def train(profile: str, overrides: dict, corpus: Path, out: Path) -> dict[str, float]:
    """Fine-tune on the corpus; the run directory `out` holds the best weights and the training history."""
    from training.lifecycle import fit

    result = fit(config_for(profile, overrides), Corpus.load(corpus), run_dir=out)
    return {"best_val_score": result.best_score, "epochs": float(result.epochs_run)}


@step
def package(
    profile: str, overrides: dict, corpus: Path, run: Path, bundle_out: Path, report_out: Path, summary_out: Path
) -> tuple[str, dict[str, float]]:
    """Export, evaluate (with baselines) and bundle the trained model; writes the HTML report and a summary."""
    from training.lifecycle import package as package_bundle
    from training.report import report_html

    config = config_for(profile, overrides)
    result = load_trained(run, config, load_taxonomy())
    summary = package_bundle(config, Corpus.load(corpus), result)
    shutil.copytree(summary["bundle"], bundle_out, dirs_exist_ok=True)
    report_out.parent.mkdir(parents=True, exist_ok=True)
    report_out.write_text(report_html(Path(summary["report"])), encoding="utf-8")
    write_json(summary_out, {k: summary[k] for k in ("version", "test", "baselines")} | {"history": result.history})
    metrics = {f"{head}_{k}": float(v) for head, m in summary["test"].items() for k, v in m.items() if _number(v)}
    return summary["version"], metrics


@step
def register(profile: str, overrides: dict, corpus: Path, bundle: Path, report: Path, summary: Path) -> str:
    """Log the run to MLflow (parameters, data fingerprint, code version, metrics, report) as the new challenger."""
    from teller.bundle import load_bundle
    from training.registry import log_and_register

    facts = json.loads(summary.read_text())
    config = config_for(profile, overrides)
    return log_and_register(
        load_bundle(bundle),
        config.model_dump(mode="json"),
        facts["test"],
        facts["baselines"],
        report,
        corpus,
        facts["history"],
    )


@step
def gate(version: str, margin: float) -> tuple[bool, str]:
    """Score challenger and champion on the challenger's frozen test split; promote only on a win by `margin`."""
    from training.registry import promote

    decision = promote(margin, version)
    return decision.promoted, decision.reason


@step
def trial(profile: str, overrides: dict, params: dict, corpus: Path, scratch: Path) -> dict:
    """Train one hyperparameter set on the prepared corpus; returns the set, its validation score and history."""
    from training.lifecycle import fit

    result = fit(config_for(profile, {**overrides, **params}), Corpus.load(corpus), run_dir=scratch)
    return {"params": params, "score": float(result.best_score), "history": result.history}


@step
def pick_best(overrides: dict, results: list[dict], corpus: Path) -> dict:
    """Log the sweep as one MLflow parent run with a child run per trial; returns the best trial's overrides."""
    import mlflow

    from training.registry import use_experiment

    if not results:
        raise TellerError("the sweep ran no trials", None, "give at least one trial")
    best = max(results, key=lambda r: r["score"])
    use_experiment()
    fingerprint = Corpus.load(corpus).fingerprint["sha256"]
    with mlflow.start_run(run_name="sweep", tags={"teller.sweep": "true", "data_fingerprint": fingerprint}):
        for result in results:
            name = "trial " + ", ".join(f"{k}={v}" for k, v in sorted(result["params"].items()))
            with mlflow.start_run(run_name=name, nested=True, tags={"data_fingerprint": fingerprint}):
                mlflow.log_params({**result["params"], "gpus": result.get("gpus", 0)})
                mlflow.log_metric("best_val_score", result["score"])
                for point in result["history"]:
                    mlflow.log_metric("val_score", point["score"], step=int(point["epoch"] * 100))
        mlflow.log_params({f"best_{k}": v for k, v in best["params"].items()})
        mlflow.log_metric("best_val_score", best["score"])
    return {**overrides, **best["params"]}


@step
def export_corrections(database_url: str, out: Path) -> int:
    """Agents' corrections from the audit store as a CFPB-format CSV; returns how many."""
    from teller.feedback import export_feedback
    from teller.store import Store

    return export_feedback(Store(database_url or get_settings().database_url, migrate=False), out)


@step
def build_kb(sources: list[dict], out: Path) -> tuple[str, dict[str, float]]:
    """Ingest, mask, chunk, embed and index the KB sources (default: the configured ones) into `out`."""
    from rag.build import build

    chosen = [KBSource.model_validate(s) for s in sources] or None
    manifest = build(chosen, out)
    counts = ("entries", "passages", "merged_duplicates", "abstain_threshold")
    return manifest.version, {k: float(getattr(manifest, k)) for k in counts}


@step
def evaluate_kb(kb: Path, min_hit_at_3: float) -> dict[str, float]:
    """Retrieval quality of the built KB on the bundled question set; below `min_hit_at_3` fails the run."""
    from rag.chain import Answerer
    from rag.evaluate import EVAL_SET, evaluate, load_questions
    from rag.index import KnowledgeBase

    result = evaluate(Answerer(KnowledgeBase(kb)), load_questions(EVAL_SET))
    if (result["hit_at_3"] or 0) < min_hit_at_3:
        raise TellerError(f"hit@3 {result['hit_at_3']} is below {min_hit_at_3}", str(kb), "fix the sources")
    flat = {k: v for k, v in result.items() if _number(v)}
    flat.update({f"latency_{k}": v for k, v in result.get("latency_ms", {}).items()})
    return {k: float(v) for k, v in flat.items()}


@step
def publish_kb(kb: Path, target: str) -> str:
    """Copy the KB into `target` (the directory servers read, swapped atomically); returns its version."""
    from rag.index import Manifest
    from teller.io import atomic_path

    version = Manifest.read(kb).version
    if target:
        with atomic_path(Path(target)) as tmp:
            shutil.copytree(kb, tmp)
    return version


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
