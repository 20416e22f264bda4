"""MLflow runs and registered models keep their artifacts under the data dir, whatever the working directory."""

from __future__ import annotations

import json
import shutil

from teller.bundle import CHAMPION, resolve_bundle
from teller.io import write_jsonl
from tests.bundle_fixtures import fake_bundle
from training.registry import client, log_and_register


def _register(data_dir, version: str) -> str:
    bundle = resolve_bundle(fake_bundle(data_dir / "bundles", version))
    split = data_dir / "corpus" / "abc"
    write_jsonl(split / "test.jsonl", [{"text": "a fee", "source": "cfpb"}])
    (split / "fingerprint.json").write_text(json.dumps({"sha256": "0" * 64}))
    report = data_dir / "reports" / version
    report.mkdir(parents=True)
    (report / "report.md").write_text("# report\n")
    return log_and_register(bundle, {"profile": "test"}, {}, {}, report, split, [])


def test_registration_writes_nothing_into_the_working_directory(data_dir, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    version = _register(data_dir, "20260101.000000")
    assert list(cwd.iterdir()) == []  # MLflow's default artifact root would be ./mlruns
    stored = list((data_dir / "mlartifacts").rglob("bundle.json"))
    assert stored, "the registered model's bundle is not under <data_dir>/mlartifacts"
    assert client().get_model_version("teller-triage", version).tags["bundle_version"] == "20260101.000000"


def test_the_champion_is_resolved_and_fetched_when_not_local(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    champion = _register(data_dir, "20260101.000000")
    _register(data_dir, "20260202.000000")  # newer, but only the challenger
    client().set_registered_model_alias("teller-triage", CHAMPION, champion)
    assert resolve_bundle().info.version == "20260101.000000"
    shutil.rmtree(data_dir / "bundles" / "20260101.000000")
    fetched = resolve_bundle()
    assert fetched.info.version == "20260101.000000"
    assert fetched.path.is_relative_to(data_dir / "downloads")
