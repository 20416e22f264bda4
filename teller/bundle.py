"""The model bundle: the one contract between training and serving, readable without torch.

A bundle directory holds ONNX model(s), the tokenizer, `labels.json`, `bundle.json` (name, version,
commit, thresholds, variants), `metrics.json`, `fingerprint.json` and `MODEL_CARD.md`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from teller.errors import BundleError
from teller.settings import get_settings
from teller.taxonomy import issue_mask

log = logging.getLogger(__name__)
REQUIRED_FILES = ("bundle.json", "labels.json", "tokenizer/tokenizer.json")
CHAMPION = "champion"


class BundleInfo(BaseModel):
    """Identity and runtime settings of a bundle (`bundle.json`)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Registered model name.")
    version: str = Field(description="Bundle version (UTC build time plus data hash).")
    git_commit: str = Field(description="Commit of the code that trained it ('unknown' outside git).")
    created: str = Field(description="ISO-8601 UTC build time.")
    profile: str = Field(description="Training profile.")
    max_length: int = Field(description="Tokens per text the model was trained on.")
    heads: list[str] = Field(description="ONNX outputs, in order: '<head>_logits'.")
    thresholds: dict[str, float] = Field(description="Decision thresholds of binary heads (p(yes) >= t).")
    variants: dict[str, str] = Field(description="Variant name -> ONNX file, e.g. fp32, int8.")
    default_variant: str = Field(description="Variant serving should load (int8 only if it passed parity).")
    data_fingerprint: str = Field(description="sha256 of the training corpus.")
    taxonomy_version: int
    tail_tokens: int = Field(0, ge=0, description="Tokens kept from the end of a long text (head+tail); 0: head only.")
    ensemble: dict[str, float] = Field(
        default_factory=dict, description="Per head, the lexical model's weight in the log-linear pool (absent: 0)."
    )
    joint_team_issue: bool = Field(
        False,
        description="Team and issue are decided as the best pair the taxonomy allows (never an issue the team"
        " cannot carry).",
    )


@dataclass
class Bundle:
    """A loaded bundle directory."""

    path: Path
    info: BundleInfo
    labels: dict[str, list[str]]

    @cached_property
    def metrics(self) -> dict:
        file = self.path / "metrics.json"
        return json.loads(file.read_text()) if file.exists() else {}

    @cached_property
    def issue_mask(self) -> np.ndarray:
        """Team x issue matrix in the bundle's label order: 1 where the team can carry the issue."""
        teams = json.loads((self.path / "labels.json").read_text()).get("issue_teams")
        if teams is None:
            raise BundleError("labels.json has no issue_teams for the joint team-issue decision", str(self.path))
        return issue_mask(self.labels["team"], self.labels["issue"], teams)

    def onnx_path(self, variant: str | None = None) -> Path:
        variant = variant or self.info.default_variant
        if variant not in self.info.variants:
            raise BundleError(f"no variant {variant!r} (has {sorted(self.info.variants)})", str(self.path))
        return self.path / self.info.variants[variant]

    @property
    def tokenizer_path(self) -> Path:
        return self.path / "tokenizer" / "tokenizer.json"


def load_bundle(path: Path) -> Bundle:
    """Read and validate a bundle directory; a BundleError says what is missing or wrong."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError("bundle directory not found", str(path), "train one with `teller train` or pass --bundle")
    missing = [f for f in REQUIRED_FILES if not (path / f).exists()]
    if missing:
        raise BundleError(f"incomplete bundle, missing {missing}", str(path), "re-export the bundle")
    try:
        info = BundleInfo.model_validate_json((path / "bundle.json").read_text())
        labels = json.loads((path / "labels.json").read_text())["heads"]
    except (ValidationError, json.JSONDecodeError, KeyError) as exc:
        raise BundleError(f"invalid bundle metadata: {exc}", str(path)) from None
    for variant, file in info.variants.items():
        if not (path / file).exists():
            raise BundleError(f"variant {variant!r} file {file} is missing", str(path), "re-export the bundle")
    return Bundle(path, info, labels)


def newest_bundle(directory: Path) -> Bundle:
    """The most recent bundle under `directory` (versions sort by build time)."""
    bundles = sorted(p for p in Path(directory).glob("*") if (p / "bundle.json").is_file())
    if not bundles:
        raise BundleError("no model bundle yet", str(directory), "train one: `teller train --profile quick`")
    return load_bundle(bundles[-1])


def resolve_bundle(path: Path | None = None) -> Bundle:
    """The bundle every command and server uses: `path`, else `serve.bundle`, else the champion, else the newest.

    One rule, so `teller serve`, `teller evaluate` and `teller bench` never disagree about which model is live.
    """
    settings = get_settings()
    explicit = path or settings.serve.bundle
    if explicit:
        return load_bundle(Path(explicit))
    champion = champion_bundle()
    return champion if champion is not None else newest_bundle(settings.bundles_dir)


def champion_bundle() -> Bundle | None:
    """The registry champion's bundle (fetched from the registry if not local); None with no registry or champion."""
    settings = get_settings()
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # no local registry yet: do not create one just to look
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        version = MlflowClient(uri).get_model_version_by_alias(settings.registered_model, CHAMPION)
    except MlflowException as exc:
        log.info("no champion in the registry (%s); using the newest local bundle", exc.error_code)
        return None
    return registered_bundle(version)


def registered_bundle(version: Any) -> Bundle:
    """The bundle of a registered MLflow model version: the local copy by its `bundle_version` tag, else downloaded."""
    settings = get_settings()
    bundle_version = version.tags.get("bundle_version", "")
    local = settings.bundles_dir / bundle_version
    if bundle_version and (local / "bundle.json").is_file():
        return load_bundle(local)
    target = settings.data_dir / "downloads" / f"{version.name}-{version.version}"
    if not target.exists():
        import mlflow

        from teller.io import atomic_path

        with atomic_path(target) as tmp:  # an interrupted download leaves nothing that looks complete
            tmp.mkdir()
            mlflow.artifacts.download_artifacts(
                f"models:/{version.name}/{version.version}",
                dst_path=str(tmp),
                tracking_uri=settings.tracking_uri,
                registry_uri=settings.tracking_uri,
            )
    found = next(target.rglob("bundle.json"), None)
    if found is None:
        raise BundleError("registered model has no bundle", f"{version.name} v{version.version}", "register it again")
    return load_bundle(found.parent)
