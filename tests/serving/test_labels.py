"""The dashboard's label reports: proposals and discovered clusters read from what `teller labels` wrote."""

from __future__ import annotations

import json

from serving.labels import TOP_LABELS, read_label_reports


def summary(name: str, created: str, labels: int = 3) -> dict:
    before = {f"label_{i}": 100 - i for i in range(labels)}
    after = {**before, "label_0": 60, name: 40}
    return {
        "name": name,
        "head": "issue",
        "description": f"{name} complaints",
        "created": created,
        "rows": sum(before.values()),
        "proposed": 40,
        "threshold": {"value": 0.31, "expected_precision": 0.8, "expected_recall": 0.7, "positives": 5},
        "distribution": {"before": before, "after": after},
        "confidence": {"histogram": {"before": [0] * 9 + [5], "after": [1] * 9 + [4]}},
    }


def discover_report() -> dict:
    cluster = {
        "id": 0,
        "size": 12,
        "top_terms": ["crypto", "wallet"],
        "mean_confidence": 0.31,
        "predicted": {"Other": 7},
        "old_labels": {"Other": 12},
        "examples": [{"text": "My <PERSON> crypto wallet was frozen", "confidence": 0.3}],
    }
    return {
        "schema": "teller.labels.discover/v1",
        "created": "2026-12-01T10:00:00+00:00",
        "bundle": {"name": "teller-triage", "version": "20261201.100000"},
        "head": "issue",
        "source": "var/corpus/abc",
        "scored": 200,
        "max_confidence": 0.5,
        "uncertain": 12,
        "clusters": [cluster],
    }


def write(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if isinstance(data, dict) else data)


def test_proposals_newest_first_accepted_marked_and_a_broken_file_named(tmp_path):
    write(tmp_path / "crypto" / "summary.json", summary("Crypto", "2026-12-01T09:00:00+00:00", labels=30))
    write(tmp_path / "fx-rates" / "summary.json", summary("FX rates", "2026-12-02T09:00:00+00:00"))
    write(tmp_path / "half" / "summary.json", '{"name": "Half", "head": "iss')
    write(tmp_path / "discover.json", discover_report())
    reports = read_label_reports(tmp_path, accepted={"Crypto"})

    assert [(p.name, p.accepted) for p in reports.proposals] == [("FX rates", False), ("Crypto", True)]
    crypto = reports.proposals[1]
    assert len(crypto.distribution) == TOP_LABELS and crypto.distribution[0].label == "Crypto"
    assert (crypto.distribution[0].before, crypto.distribution[0].after) == (0, 40)
    assert (crypto.distribution[1].label, crypto.distribution[1].before, crypto.distribution[1].after) == (
        "label_0",
        100,
        60,
    )
    assert crypto.confidence_after == [1] * 9 + [4] and crypto.expected_precision == 0.8
    assert reports.unreadable == ["half/summary.json"]
    assert reports.discovery.model_version == "20261201.100000"
    assert reports.discovery.clusters[0].top_terms == ["crypto", "wallet"]


def test_nothing_written_yet(tmp_path):
    reports = read_label_reports(tmp_path / "absent", accepted=set())
    assert reports.proposals == [] and reports.discovery is None and reports.unreadable == []


def test_a_discovery_in_an_unknown_shape_is_named(tmp_path):
    write(tmp_path / "discover.json", {**discover_report(), "clusters": [{"id": 0}]})
    reports = read_label_reports(tmp_path, accepted=set())
    assert reports.discovery is None and reports.unreadable == ["discover.json"]


def test_the_agent_api_serves_them(client, data_dir):
    assert client.get("/api/labels").json() == {"proposals": [], "discovery": None, "unreadable": []}
    write(data_dir / "reports" / "labels" / "crypto" / "summary.json", summary("Crypto", "2026-12-01T09:00:00Z"))
    write(data_dir / "reports" / "labels" / "discover.json", discover_report())
    body = client.get("/api/labels").json()
    assert [p["name"] for p in body["proposals"]] == ["Crypto"] and body["proposals"][0]["accepted"] is False
    assert body["discovery"]["clusters"][0]["examples"][0]["text"].startswith("My <PERSON>")
