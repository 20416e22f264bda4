"""The plain step functions behind the sweep and the retraining components, on a real MLflow store and audit DB."""

from __future__ import annotations

import pytest

from pipelines import steps


def test_sweep_logs_a_parent_run_with_a_child_per_trial(data_dir, tmp_path):
    from mlflow import MlflowClient

    from teller.settings import get_settings
    from training.corpus import Corpus

    corpus = tmp_path / "corpus"
    Corpus({"train": [], "val": [], "test": []}, {"sha256": "abc123"}).save(corpus)
    results = [
        {"params": {"lr": 8e-5, "epochs": 2}, "score": 0.61, "history": [{"epoch": 1.0, "score": 0.61}]},
        {"params": {"lr": 1.5e-4, "epochs": 3}, "score": 0.7, "history": [{"epoch": 1.0, "score": 0.7}]},
    ]
    best = steps.pick_best({"max_length": 64, "epochs": 1}, results, corpus)
    assert best == {"max_length": 64, "epochs": 3, "lr": 1.5e-4}  # the trial's values win over the base overrides
    tracking = MlflowClient(get_settings().tracking_uri)
    runs = tracking.search_runs([tracking.get_experiment_by_name("teller-triage").experiment_id])
    (parent,) = [r for r in runs if r.info.run_name == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.data.params == {"best_lr": "0.00015", "best_epochs": "3"}
    assert parent.data.metrics["best_val_score"] == 0.7 and parent.data.tags["data_fingerprint"] == "abc123"
    assert sorted(c.data.metrics["best_val_score"] for c in children) == [0.61, 0.7]
    with pytest.raises(SystemExit, match="error: the sweep ran no trials"):
        steps.pick_best({}, [], corpus)


def test_corrections_leave_the_audit_store_as_a_training_source(data_dir, tmp_path):
    from teller.store import Allocation, Complaint, Feedback, Store
    from teller.taxonomy import load_taxonomy
    from training.corpus import DataConfig
    from training.validate import validate_sources

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = Store(url)
    complaint = Complaint(id="c1", narrative="The servicer lost my mortgage payment and charged a fee.", queue="x")
    decision = Allocation(
        complaint_id="c1",
        model_name="m",
        model_version="1",
        team="credit_card",
        issue="Other",
        vulnerable=False,
        probabilities={},
        latency_ms=1.0,
    )
    store.record_decisions([complaint], [decision])
    store.add_feedback(Feedback(complaint_id="c1", agent_id="a", team="loans_mortgages", issue=None, vulnerable=None))
    out = tmp_path / "corrections.csv"
    assert steps.export_corrections(url, out) == 1
    report = validate_sources(DataConfig(cfpb=None, banking77=None, clinc150=None, corrections=out), load_taxonomy())
    assert report["corrections"]["team"] == {"loans_mortgages": 1}


@pytest.mark.slow
def test_a_sweep_trial_trains_on_the_prepared_corpus(data_dir, tiny_overrides, tmp_path):
    facts = steps.prepare("quick", tiny_overrides, tmp_path / "corpus")
    result = steps.trial("quick", tiny_overrides, {"lr": 1e-4}, tmp_path / "corpus", tmp_path / "run")
    assert result["params"] == {"lr": 1e-4} and 0 < result["score"] <= 1
    assert result["history"] and result["history"][-1]["epoch"] == 1.0
    assert facts["sha256"] and (tmp_path / "run" / "best.pt").is_file()
