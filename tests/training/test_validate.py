"""Early checks (sources, leakage) and the retraining merge: corrections win, the test split stays frozen."""

from __future__ import annotations

import pytest

from teller.errors import DataError
from teller.taxonomy import load_taxonomy
from tests.conftest import CFPB, sample_rows, write_csv
from training.corpus import Corpus, DataConfig, build_corpus, split_of
from training.data import Example
from training.validate import check_corpus, validate_sources


def complaints(tmp_path, n=40):
    header, rows = sample_rows(CFPB, n, seed=11)
    return header, rows, write_csv(tmp_path / "cfpb.csv", header, rows)


def test_sources_are_read_once_and_reported(tmp_path):
    _, rows, path = complaints(tmp_path)
    report = validate_sources(DataConfig(cfpb=path, banking77=None, clinc150=None), load_taxonomy())
    assert report["cfpb"]["rows"] == sum(bool(r["Consumer complaint narrative"].strip()) for r in rows)
    assert sum(report["cfpb"]["team"].values()) == report["cfpb"]["rows"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Date received,Product\n2024-01-01,Mortgage\n", "Consumer complaint narrative"),
        (None, "file not found"),
    ],
)
def test_bad_sources_fail_with_the_file_named(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message) as error:
        validate_sources(DataConfig(cfpb=path, banking77=None, clinc150=None), load_taxonomy())
    assert "bad.csv" in error.value.message


def test_one_team_is_not_enough(tmp_path):
    header, rows = sample_rows(CFPB, 20, seed=2, where=lambda r: r["Product"] == "Mortgage")
    path = write_csv(tmp_path / "mortgages.csv", header, rows)
    with pytest.raises(DataError, match="1 routing team"):
        validate_sources(DataConfig(cfpb=path, banking77=None, clinc150=None), load_taxonomy())


def test_leakage_and_empty_splits_fail():
    text = "my card was charged twice for one purchase"
    rows = lambda *texts: [Example(text=t, source="x", team="credit_card") for t in texts]  # noqa: E731
    clean = Corpus({"train": rows("a b c"), "val": rows("d e f"), "test": rows("g h i")}, {})
    assert check_corpus(clean) == {"val": 0, "test": 0}
    with pytest.raises(DataError, match="leakage"):
        check_corpus(Corpus({"train": rows(text), "val": rows("x"), "test": rows(text.upper())}, {}))
    with pytest.raises(DataError, match="val split"):
        check_corpus(Corpus({"train": rows("a"), "val": [], "test": rows("b")}, {}))


@pytest.mark.slow
def test_corrections_replace_labels_outside_the_frozen_test_split(tmp_path):
    taxonomy = load_taxonomy()
    header, rows, base = complaints(tmp_path, 60)
    rows = [r for r in rows if r["Consumer complaint narrative"].strip()]
    corrected = []
    for row in rows:
        team = taxonomy.team_for_product(row["Product"])
        corrected.append(row | {"Product": "Mortgage" if team != "loans_mortgages" else "Debt collection"})
    corrections = write_csv(tmp_path / "corrections.csv", header, corrected)
    config = DataConfig(cfpb=base, banking77=None, clinc150=None, corrections=corrections, max_chars=300)
    before = build_corpus(config.model_copy(update={"corrections": None}), taxonomy)
    after = build_corpus(config, taxonomy)

    assert after.splits["test"] == before.splits["test"]  # frozen
    in_test = sum(split_of(r["Consumer complaint narrative"], 0.10, 0.15) == "test" for r in rows)
    assert after.fingerprint["loaded"]["corrections"]["skipped"]["test split (frozen)"] == in_test
    for split in ("train", "val"):  # the same texts, each with the agent's team
        old, new = (sorted(c.splits[split], key=lambda e: e.text) for c in (before, after))
        assert [e.text for e in new] == [e.text for e in old]
        assert all(a.team != b.team for a, b in zip(new, old, strict=True))
