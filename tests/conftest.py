"""Shared fixtures: isolated data dirs, small real data files, and one tiny trained bundle per session."""

from __future__ import annotations

import csv
import gzip
import os
import random
import socket
from pathlib import Path

import pytest

from teller.settings import get_settings
from tests.kb_fixtures import SHARED, answerer, kb_sources, small_kb  # noqa: F401 - session KB fixtures

CFPB = SHARED / "cfpb" / "complaints.csv.gz"
BANKING77 = SHARED / "banking77" / "train.csv"
CLINC150 = SHARED / "clinc150" / "data_train_val.json"


def free_port() -> int:
    """A loopback port nothing is listening on, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_rows(path: Path, n: int, seed: int = 7, where=None) -> tuple[list[str], list[dict]]:
    """A seeded random sample of a (gzipped) CSV's rows, with its header."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [r for r in reader if where is None or where(r)]
        header = list(reader.fieldnames or [])
    random.Random(seed).shuffle(rows)
    return header, rows[:n]


def write_csv(path: Path, header: list[str], rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh TELLER_DATA_DIR (and MLflow store) for one test."""
    monkeypatch.setenv("TELLER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> dict:
    """Train, export, evaluate and register one small real model (MiniLM, a few hundred rows)."""
    from training.lifecycle import train_and_package
    from training.train import TrainConfig

    root = tmp_path_factory.mktemp("tiny")
    header, complaints = sample_rows(CFPB, 700, where=lambda r: r["Tags recorded"] == "Yes")
    bheader, queries = sample_rows(BANKING77, 2500)
    saved = {k: os.environ.get(k) for k in ("TELLER_DATA_DIR", "MLFLOW_TRACKING_URI")}
    os.environ["TELLER_DATA_DIR"] = str(root / "var")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    config = TrainConfig(
        profile="test",
        data={
            "cfpb": write_csv(root / "cfpb.csv", header, complaints),
            "banking77": write_csv(root / "banking77.csv", bheader, queries),
            "clinc150": CLINC150,
            "out_of_scope_limit": 150,
        },
        max_length=64,
        epochs=3,
        patience=3,
        baselines=["tfidf"],
    )
    summary = train_and_package(config)
    summary["data_dir"] = root / "var"
    yield summary
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
