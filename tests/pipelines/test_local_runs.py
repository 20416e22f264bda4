"""The pipelines run end to end on this machine with KFP's subprocess runner, on tiny real data slices."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_train_eval_registers_a_challenger_and_gates_it(data_dir, tiny_overrides):
    from mlflow import MlflowClient

    from pipelines.runner import run_local
    from teller.settings import get_settings

    outputs = run_local("train_eval", {"profile": "quick", "overrides": tiny_overrides})
    assert outputs["registered_version"] == "1"
    assert outputs["promoted"] is True and "no champion" in outputs["reason"].lower()
    client = MlflowClient(get_settings().tracking_uri)
    version = client.get_model_version_by_alias(get_settings().registered_model, "champion")
    assert str(version.version) == "1" and version.tags["bundle_version"] == outputs["version"]
    run = client.get_run(version.run_id)
    assert run.data.tags["data_fingerprint"] and run.data.tags["git_commit"]
    assert run.data.params["max_length"] == "32"

    root = data_dir / "pipelines"
    bundles = list(root.rglob("bundle.json"))
    assert bundles and json.loads(bundles[0].read_text())["version"] == outputs["version"]
    (report,) = [p for p in root.rglob("report") if p.is_file()]
    html = report.read_text()
    assert "<table>" in html and 'src="data:image/png;base64,' in html
    assert any(p.name == "test.jsonl" for p in root.rglob("*.jsonl"))

    again = run_local("train_eval", {"profile": "quick", "overrides": tiny_overrides, "margin": 0.5})
    assert again["registered_version"] == "2" and again["promoted"] is False and again["reason"]
    assert str(client.get_model_version_by_alias(get_settings().registered_model, "champion").version) == "1"


def test_a_bad_file_fails_at_validation_with_a_clear_message(data_dir, tiny_overrides, tmp_path, capfd):
    from pipelines.runner import run_local
    from teller.errors import TellerError

    broken = tmp_path / "broken.csv"
    broken.write_text("Date received,Product\n2024-01-01,Mortgage\n")
    tiny_overrides["data"]["cfpb"] = str(broken)
    with pytest.raises(TellerError, match="train_eval failed"):
        run_local("train_eval", {"profile": "quick", "overrides": tiny_overrides})
    logs = capfd.readouterr()
    text = logs.out + logs.err
    assert "error: " in text and "broken.csv" in text and "Consumer complaint narrative" in text
    assert "validate-data" in text and not list((data_dir / "pipelines").rglob("bundle.json"))


@pytest.mark.slow
def test_kb_index_builds_evaluates_and_publishes(data_dir, kb_sources, tmp_path):
    from pipelines.runner import run_local
    from rag.index import KnowledgeBase

    target = tmp_path / "published-kb"
    sources = [s.model_dump(mode="json", exclude_none=True) for s in kb_sources]
    outputs = run_local("kb_index", {"sources": sources, "min_hit_at_3": 0.0, "target": str(target)})
    published = KnowledgeBase(target)
    assert outputs["Output"] == published.version and published.manifest.entries > 100
    with pytest.raises(Exception, match="kb_index failed"):
        run_local("kb_index", {"sources": sources, "min_hit_at_3": 1.01, "target": str(tmp_path / "never")})
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_sweep_trains_each_trial_and_registers_the_best(data_dir, tiny_overrides):
    from mlflow import MlflowClient

    from pipelines.runner import run_local
    from teller.settings import get_settings

    trials = [{"lr": 8e-5, "balance": "class_weights"}, {"lr": 3e-4, "balance": "upsample"}]
    outputs = run_local("sweep", {"overrides": tiny_overrides, "trials": trials})
    assert outputs["registered_version"] == "1" and outputs["promoted"] is True
    tracking = MlflowClient(get_settings().tracking_uri)
    runs = tracking.search_runs([tracking.get_experiment_by_name("teller-triage").experiment_id])
    (sweep,) = [r for r in runs if r.info.run_name == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == sweep.info.run_id]
    assert sorted(c.data.params["lr"] for c in children) == ["0.0003", "8e-05"]
    best = max(children, key=lambda c: c.data.metrics["best_val_score"])
    (registered,) = [r for r in runs if r.data.tags.get("bundle_version") == outputs["version"]]
    assert registered.data.params["lr"] == best.data.params["lr"]  # the final model used the best trial's values
