"""The model bundle: the one contract between training and serving, readable without torch.

A bundle directory holds ONNX model(s), the tokenizer, `labels.json`, `bundle.json` (name, version,
commit, thresholds, variants), `metrics.json`, `fingerprint.json` and `MODEL_CARD.md`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from teller.errors import BundleError

REQUIRED_FILES = ("bundle.json", "labels.json", "tokenizer/tokenizer.json")


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
