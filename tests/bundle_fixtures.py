"""A fabricated model bundle: every file `load_bundle` checks, no real model (for resolver and registry plumbing)."""

from __future__ import annotations

import json
from pathlib import Path

from teller.bundle import BundleInfo


def fake_bundle(directory: Path, version: str, name: str = "teller-triage") -> Path:
    """Write a loadable bundle called `version` under `directory`; its ONNX file is a placeholder."""
    path = directory / version
    (path / "tokenizer").mkdir(parents=True)
    (path / "tokenizer" / "tokenizer.json").write_text("{}")
    (path / "model.onnx").write_bytes(b"placeholder")
    (path / "labels.json").write_text(json.dumps({"heads": {"team": ["cards", "loans"]}}))
    info = BundleInfo(
        name=name,
        version=version,
        git_commit="unknown",
        created="2026-01-01T00:00:00Z",
        profile="test",
        max_length=32,
        heads=["team_logits"],
        thresholds={},
        variants={"fp32": "model.onnx"},
        default_variant="fp32",
        data_fingerprint="0" * 64,
        taxonomy_version=1,
    )
    (path / "bundle.json").write_text(info.model_dump_json())
    return path
