"""Kubeflow Pipelines components: each moves artifacts in and out of one `pipelines.steps` function.

No `from __future__ import annotations` here: KFP reads the real annotations to type inputs and outputs.
Every component runs in the one training image (`TELLER_PIPELINES__IMAGE`).
"""

from typing import List, NamedTuple  # noqa: UP035 - KFP reads typing.List for collected outputs

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from teller.settings import get_settings

IMAGE = get_settings().pipelines.image
# The image already carries kfp and Teller: nothing is pip-installed when a step starts.
component = dsl.component(base_image=IMAGE, install_kfp_package=False)


@component
def validate_data(profile: str, overrides: dict, report: Output[Metrics]):
    """Schema, encoding and label checks on every source; a bad file fails the run here, before anything slow."""
    from pipelines.steps import validate

    for name, value in validate(profile, overrides).items():
        report.log_metric(name, value)


@component
def prepare_data(
    profile: str,
    overrides: dict,
    corpus: Output[Dataset],
    stats: Output[Metrics],
    corrections: Input[Dataset] = None,
):
    """Mask, split (leakage-checked) and fingerprint the data; agents' corrections, if given, win."""
    from pathlib import Path

    from pipelines.steps import prepare

    given = Path(corrections.path) if corrections is not None else None
    facts = prepare(profile, overrides, Path(corpus.path), given)
    corpus.metadata["sha256"] = facts.pop("sha256")
    for name, value in facts.items():
        stats.log_metric(f"{name}_rows", value)


@component
def train_model(profile: str, overrides: dict, corpus: Input[Dataset], model: Output[Model], stats: Output[Metrics]):
    """Fine-tune the multi-task encoder; the output holds the best checkpoint and the training history."""
    from pathlib import Path

    from pipelines.steps import train

    for name, value in train(profile, overrides, Path(corpus.path), Path(model.path)).items():
        stats.log_metric(name, value)


@component
def evaluate_and_export(
    profile: str,
    overrides: dict,
    corpus: Input[Dataset],
    model: Input[Model],
    bundle: Output[Model],
    metrics: Output[Metrics],
    report: Output[HTML],
    summary: Output[Artifact],
) -> str:
    """ONNX export (+ int8 gate), test metrics against baselines, the bundle and its report; returns the version."""
    from pathlib import Path

    from pipelines.steps import package

    version, scores = package(
        profile,
        overrides,
        Path(corpus.path),
        Path(model.path),
        Path(bundle.path),
        Path(report.path),
        Path(summary.path),
    )
    bundle.metadata["version"] = version
    for name, value in scores.items():
        metrics.log_metric(name, value)
    return version


@component
def register_challenger(
    profile: str,
    overrides: dict,
    tracking_uri: str,
    corpus: Input[Dataset],
    bundle: Input[Model],
    report: Input[HTML],
    summary: Input[Artifact],
) -> str:
    """Log the run to MLflow and register the bundle as the `challenger`; returns the registered version."""
    from pathlib import Path

    from pipelines.steps import register, use_tracking

    use_tracking(tracking_uri)
    return register(profile, overrides, Path(corpus.path), Path(bundle.path), Path(report.path), Path(summary.path))


@component
def gate_champion(version: str, margin: float, tracking_uri: str) -> NamedTuple("Gate", promoted=bool, reason=str):
    """Challenger against champion on the frozen test split: promote, or stop with the reason."""
    from collections import namedtuple

    from pipelines.steps import gate, use_tracking

    use_tracking(tracking_uri)
    promoted, reason = gate(version, margin)
    return namedtuple("Gate", ["promoted", "reason"])(promoted, reason)


@component
def export_corrections(database_url: str, corrections: Output[Dataset]) -> int:
    """Agents' corrections from the audit store, as a CFPB-format CSV."""
    from pathlib import Path

    from pipelines.steps import export_corrections as export

    return export(database_url, Path(corrections.path))


@component
def build_kb(sources: list, kb: Output[Artifact], stats: Output[Metrics]) -> str:
    """Ingest, mask, chunk, embed and index the knowledge base; returns its content version."""
    from pathlib import Path

    from pipelines.steps import build_kb as build

    version, counts = build(sources, Path(kb.path))
    kb.metadata["version"] = version
    for name, value in counts.items():
        stats.log_metric(name, value)
    return version


@component
def evaluate_kb(kb: Input[Artifact], min_hit_at_3: float, metrics: Output[Metrics]):
    """Retrieval evaluation of the built index; below the bar the run fails before publishing."""
    from pathlib import Path

    from pipelines.steps import evaluate_kb as evaluate

    for name, value in evaluate(Path(kb.path), min_hit_at_3).items():
        metrics.log_metric(name, value)


@component
def publish_kb(kb: Input[Artifact], target: str) -> str:
    """Swap the evaluated index into the directory servers read (if given); returns its version."""
    from pathlib import Path

    from pipelines.steps import publish_kb as publish

    return publish(Path(kb.path), target)


@component
def sweep_trial(profile: str, overrides: dict, trial: dict, corpus: Input[Dataset], gpus: int) -> dict:
    """Train one hyperparameter set; returns the set, its validation score and history (logged by pick_best).

    `gpus` is what the step requested; as an input it also reaches the loop's scope.
    """
    import tempfile
    from pathlib import Path

    from pipelines.steps import trial as run_trial

    with tempfile.TemporaryDirectory() as scratch:
        return run_trial(profile, overrides, trial, Path(corpus.path), Path(scratch)) | {"gpus": gpus}


@component
def pick_best(overrides: dict, results: List[dict], corpus: Input[Dataset], tracking_uri: str) -> dict:  # noqa: UP006
    """Log the sweep to MLflow (a parent run, a child run per trial) and return the best trial's overrides."""
    from pathlib import Path

    from pipelines.steps import pick_best as pick
    from pipelines.steps import use_tracking

    use_tracking(tracking_uri)
    return pick(overrides, results, Path(corpus.path))
