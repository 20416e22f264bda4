"""Tiny real data slices for pipeline runs."""

from __future__ import annotations

import pytest

from tests.conftest import BANKING77, CFPB, CLINC150, sample_rows, write_csv


@pytest.fixture
def tiny_overrides(tmp_path) -> dict:
    """A few hundred real complaints and queries, one short epoch: minutes on two cores."""
    header, complaints = sample_rows(CFPB, 300, seed=3, where=lambda r: r["Tags recorded"] == "Yes")
    bheader, queries = sample_rows(BANKING77, 800, seed=3)
    return {
        "data": {
            "cfpb": str(write_csv(tmp_path / "cfpb.csv", header, complaints)),
            "banking77": str(write_csv(tmp_path / "banking77.csv", bheader, queries)),
            "clinc150": str(CLINC150),
            "out_of_scope_limit": 60,
        },
        "max_length": 32,
        "epochs": 1,
        "baselines": [],
    }
