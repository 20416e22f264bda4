"""MLflow tracking and the model registry: log runs, register bundles, gate champion vs challenger."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from teller.bundle import CHAMPION, Bundle, load_bundle, registered_bundle
from teller.errors import TellerError
from teller.settings import get_settings

log = logging.getLogger(__name__)
EXPERIMENT = "teller-triage"
CHALLENGER = "challenger"
PIP_REQUIREMENTS = ["onnxruntime==1.32.0", "tokenizers", "numpy", "pydantic"]
# The pyfunc takes a DataFrame of masked texts; MLflow's type-hint validation adds nothing here.
warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method.*")


class BundleModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc shell over a bundle: masked texts in, per-head probabilities out."""

    def load_context(self, context) -> None:
        from teller.classifier import BundleClassifier

        self.classifier = BundleClassifier(load_bundle(Path(context.artifacts["bundle"])))

    def predict(self, context, model_input, params=None):
        import pandas as pd

        texts = list(model_input["text"]) if isinstance(model_input, pd.DataFrame) else list(model_input)
        probs = self.classifier.probabilities(texts)
        return pd.DataFrame({h: list(p) for h, p in probs.items()})


def client() -> MlflowClient:
    """A client of the configured tracking store, also made the process's MLflow default."""
    uri = get_settings().tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


def use_experiment(name: str = EXPERIMENT) -> str:
    """Make `name` the active experiment, creating it with its artifacts under the data dir for a local store.

    MLflow's default artifact root is `./mlruns` in the working directory, so a run started anywhere else
    (a test, a pipeline step, a checkout) would leave its models there.
    """
    c = client()
    found = c.get_experiment_by_name(name)
    if found is None:
        location = None
        if get_settings().tracking_uri.startswith("sqlite:"):  # a tracking server chooses its own artifact store
            location = (get_settings().data_dir / "mlartifacts").resolve().as_uri()
        with contextlib.suppress(MlflowException):  # another process may have created it first
            c.create_experiment(name, artifact_location=location)
        found = c.get_experiment_by_name(name)
    mlflow.set_experiment(experiment_id=found.experiment_id)
    return found.experiment_id


def _flat(prefix: str, obj) -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: obj}


def log_and_register(
    bundle: Bundle,
    config: dict,
    metrics: dict,
    baselines: dict,
    report_dir: Path,
    split_dir: Path,
    history: list[dict],
) -> str:
    """Log a training run to MLflow, register its bundle, and alias the new version `challenger`."""
    c = client()
    name = get_settings().registered_model
    use_experiment()
    with mlflow.start_run(run_name=f"{bundle.info.profile}-{bundle.info.version}") as run:
        mlflow.log_params({k: str(v)[:500] for k, v in _flat("", config).items()})
        mlflow.set_tags(
            {
                "bundle_version": bundle.info.version,
                "git_commit": bundle.info.git_commit,
                "data_fingerprint": bundle.info.data_fingerprint,
            }
        )
        for head, m in metrics.items():
            mlflow.log_metrics({f"test_{head}_{k}": v for k, v in m.items() if isinstance(v, int | float)})
        for base, heads in baselines.items():
            for head, m in heads.items():
                mlflow.log_metrics({f"{base}_{head}_{k}": v for k, v in m.items() if isinstance(v, int | float)})
        for point in history:
            mlflow.log_metric("val_score", point["score"], step=int(point["epoch"] * 100))
        if Path(report_dir).is_dir():
            mlflow.log_artifacts(str(report_dir), "report")
        else:  # one self-contained HTML report (pipeline runs)
            mlflow.log_artifact(str(report_dir), "report")
        mlflow.log_artifact(str(split_dir / "test.jsonl"), "split")
        mlflow.log_artifact(str(split_dir / "fingerprint.json"), "split")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BundleModel(),
            artifacts={"bundle": str(bundle.path)},
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    c.set_model_version_tag(name, version, "bundle_version", bundle.info.version)
    c.set_model_version_tag(name, version, "run_id", run.info.run_id)
    c.set_registered_model_alias(name, CHALLENGER, version)
    return version


def _alias_version(c: MlflowClient, name: str, alias: str):
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    challenger: str
    champion: str | None
    scores: dict


def promote(margin: float | None = None, version: str | None = None) -> GateDecision:
    """Make the challenger (or `version`) champion only if it beats the champion on the same frozen test split."""
    from teller.io import read_jsonl
    from teller.taxonomy import load_taxonomy
    from training.data import Example
    from training.evaluate import predict_examples
    from training.metrics import head_metrics
    from training.train import selection_score

    c = client()
    name = get_settings().registered_model
    margin = get_settings().promote_margin if margin is None else margin
    challenger = c.get_model_version(name, version) if version else _alias_version(c, name, CHALLENGER)
    if challenger is None:
        raise TellerError("no challenger to promote", name, "train a model first: `teller train`")
    champion = _alias_version(c, name, CHAMPION)
    if champion is not None and str(champion.version) == str(challenger.version):
        return GateDecision(
            False,
            f"version {challenger.version} is already champion",
            str(challenger.version),
            str(champion.version),
            {},
        )
    if champion is None:
        c.set_registered_model_alias(name, CHAMPION, challenger.version)
        return GateDecision(True, "no champion yet: the challenger becomes champion", str(challenger.version), None, {})

    run_id = challenger.tags.get("run_id") or challenger.run_id
    split_dir = get_settings().data_dir / "downloads" / f"split-{run_id}"
    if not (split_dir / "split" / "test.jsonl").exists():
        shutil.rmtree(split_dir, ignore_errors=True)
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="split", dst_path=str(split_dir))
    test = [Example(**row) for row in read_jsonl(split_dir / "split" / "test.jsonl")]
    taxonomy = load_taxonomy()
    scores, per_head = {}, {}
    for role, mv in (("challenger", challenger), ("champion", champion)):
        preds = predict_examples(registered_bundle(mv), test, taxonomy)
        metrics = {h: head_metrics(p) for h, p in preds.items()}
        scores[role] = selection_score(metrics)
        per_head[role] = {h: round(m["accuracy"], 4) for h, m in metrics.items()}
    fingerprint = json.loads((split_dir / "split" / "fingerprint.json").read_text())["sha256"][:12]
    detail = (
        f"on test split {fingerprint} ({len(test)} rows): challenger v{challenger.version} "
        f"{scores['challenger']:.4f} vs champion v{champion.version} {scores['champion']:.4f}, "
        f"margin {margin}; accuracy challenger {per_head['challenger']} champion {per_head['champion']}"
    )
    if scores["challenger"] >= scores["champion"] + margin:
        c.set_registered_model_alias(name, CHAMPION, challenger.version)
        return GateDecision(True, "challenger wins " + detail, str(challenger.version), str(champion.version), scores)
    return GateDecision(False, "champion kept " + detail, str(challenger.version), str(champion.version), scores)
