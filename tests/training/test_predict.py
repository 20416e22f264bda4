"""`teller predict`: batch triage of a file, masked text only, the same decisions as the bundle's classifier."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from teller.bundle import load_bundle
from teller.cfpb import COMPLAINT_ID, NARRATIVE
from teller.classifier import BundleClassifier
from teller.cli import app
from tests.conftest import CFPB, sample_rows, write_csv

pytestmark = pytest.mark.slow
runner = CliRunner()
COLUMNS = [
    "row",
    "complaint_id",
    "masked_text",
    "team",
    "issue",
    "vulnerable",
    "queue",
    "team_confidence",
    "issue_confidence",
    "vulnerable_probability",
    "model_name",
    "model_version",
]
PII = ("Margaret Holloway", "078-05-1120", "(212) 555-0187", "margaret.holloway@example.com")
PII_NARRATIVE = (
    "My name is Margaret Holloway and my SSN is 078-05-1120. Call me at (212) 555-0187 or email "
    "margaret.holloway@example.com. The bank charged my credit card twice for the same purchase and will not refund it."
)


def _predict(*args: object):
    return runner.invoke(app, ["predict", *map(str, args)])


def _counts(stdout: str) -> tuple[int, int]:
    found = re.search(r"scored (\d+) rows, skipped (\d+) without text", stdout)
    assert found, stdout
    return int(found[1]), int(found[2])


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A CFPB-format CSV: 10 real narratives, 2 carrying PII, 3 rows without a narrative."""
    header, rows = sample_rows(CFPB, 15, seed=11, where=lambda r: r[NARRATIVE].strip())
    for row in rows[12:]:
        row[NARRATIVE] = "" if row is not rows[-1] else "   "
    for row in rows[3:5]:
        row[NARRATIVE] = PII_NARRATIVE
    return write_csv(tmp_path_factory.mktemp("predict") / "complaints.csv", header, rows), rows


@pytest.fixture(scope="module")
def csv_out(tiny_bundle, export, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("predict-out") / "decisions.csv"
    result = _predict("--data", str(export[0]), "--out", str(out), "--bundle", str(tiny_bundle["bundle"]))
    assert result.exit_code == 0, result.output
    return out, result.stdout


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"complaint_id": str, "model_version": str}, keep_default_na=False)


def test_csv_output_has_every_column_and_the_model_version(csv_out, export, tiny_bundle):
    out, stdout = csv_out
    frame = _read_csv(out)
    assert list(frame.columns) == COLUMNS
    assert _counts(stdout) == (12, 3) and len(frame) == 12
    assert set(frame["model_version"]) == {tiny_bundle["version"]}
    assert set(frame["model_name"]) == {"teller-triage"}
    kept = [r for r in export[1] if r[NARRATIVE].strip()]
    assert list(frame["complaint_id"]) == [r[COMPLAINT_ID] for r in kept]
    assert list(frame["row"]) == list(range(2, 14))  # spreadsheet rows: the header is row 1
    assert frame["vulnerable"].dtype == bool
    assert (frame.loc[frame["vulnerable"], "queue"] == "specialist-vulnerable").all()
    assert (frame.loc[~frame["vulnerable"], "queue"] == frame.loc[~frame["vulnerable"], "team"]).all()


def test_no_pii_from_the_input_reaches_the_output(csv_out):
    out, _ = csv_out
    written = out.read_text(encoding="utf-8")
    assert "<US_SSN>" in written and "<EMAIL_ADDRESS>" in written  # the PII rows were scored, masked
    for value in PII:
        assert value not in written
    assert NARRATIVE not in written  # no raw column is copied through


def test_decisions_equal_the_bundle_classifiers(csv_out, tiny_bundle):
    frame = _read_csv(csv_out[0])
    bundle = load_bundle(Path(tiny_bundle["bundle"]))
    probs = BundleClassifier(bundle).probabilities(list(frame["masked_text"]))
    labels, threshold = bundle.labels, bundle.info.thresholds["vulnerable"]
    team, issue = probs["team_logits"].argmax(axis=1), probs["issue_logits"].argmax(axis=1)
    p_yes = probs["vulnerable_logits"][:, labels["vulnerable"].index("yes")]
    assert list(frame["team"]) == [labels["team"][i] for i in team]
    assert list(frame["issue"]) == [labels["issue"][i] for i in issue]
    assert list(frame["vulnerable"]) == list(p_yes >= threshold)
    np.testing.assert_allclose(frame["team_confidence"], probs["team_logits"].max(axis=1), atol=1e-6)
    np.testing.assert_allclose(frame["issue_confidence"], probs["issue_logits"].max(axis=1), atol=1e-6)
    np.testing.assert_allclose(frame["vulnerable_probability"], p_yes, atol=1e-6)


def test_parquet_text_column_input_to_parquet_output(tiny_bundle, tmp_path):
    texts = [PII_NARRATIVE, None, "I was charged an overdraft fee on my checking account twice.", ""]
    source = tmp_path / "messages.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "body": texts}), source)
    out = tmp_path / "out" / "decisions.parquet"
    result = _predict(
        "--data", str(source), "--out", str(out), "--text-column", "body", "--bundle", tiny_bundle["bundle"]
    )
    assert result.exit_code == 0, result.output
    assert _counts(result.stdout) == (2, 2)
    table = pq.read_table(out)
    assert table.column_names == COLUMNS
    assert table.schema.field("vulnerable").type == pa.bool_()
    frame = table.to_pandas()
    assert list(frame["row"]) == [1, 3] and frame["complaint_id"].isna().all()
    assert set(frame["model_version"]) == {tiny_bundle["version"]}
    assert not any(value in text for value in PII for text in frame["masked_text"])
    assert [p.name for p in out.parent.iterdir()] == ["decisions.parquet"]  # no temp file left beside it


def test_limit_stops_after_that_many_texts(tiny_bundle, export, tmp_path):
    out = tmp_path / "first.parquet"
    result = _predict("--data", str(export[0]), "--out", str(out), "--limit", "3", "--bundle", tiny_bundle["bundle"])
    assert result.exit_code == 0, result.output
    assert _counts(result.stdout) == (3, 0) and pq.read_table(out).num_rows == 3


def test_a_malformed_row_fails_with_exit_2_and_leaves_no_output(tiny_bundle, export, tmp_path):
    lines = export[0].read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], "".join(lines[1:])
    bad = tmp_path / "bad.csv"
    bad.write_text(header + body + 'x,"unclosed quote,\n', encoding="utf-8")  # after the first chunk
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = _predict(
        "--data", str(bad), "--out", str(out_dir / "d.csv"), "--batch-size", "4", "--bundle", tiny_bundle["bundle"]
    )
    assert result.exit_code == 2, result.output
    assert "row" in result.output and "Fix:" in result.output and "Traceback" not in result.output
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "out", "message"),
    [
        ("plain.csv", "text,category\nhello,x\n", "d.csv", "--text-column"),
        ("notes.txt", "hello\n", "d.csv", "unknown input file type"),
        ("broken.csv.gz", "not gzip at all", "d.csv", "unreadable file"),
        ("broken.parquet", "PAR1 not parquet", "d.parquet", "unreadable file"),
        ("plain.csv", "Consumer complaint narrative\nhello\n", "d.json", "unknown output suffix"),
    ],
)
def test_bad_input_is_exit_2_without_traceback_or_output(tiny_bundle, tmp_path, name, content, out, message):
    (tmp_path / name).write_text(content)
    target = tmp_path / "out" / out
    result = _predict("--data", str(tmp_path / name), "--out", str(target), "--bundle", tiny_bundle["bundle"])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not target.exists() and not (target.parent.exists() and any(target.parent.iterdir()))


def test_a_failed_run_keeps_the_previous_output(tiny_bundle, tmp_path):
    (tmp_path / "broken.csv.gz").write_text("not gzip")
    out = tmp_path / "decisions.csv"
    out.write_text("previous run\n")
    result = _predict("--data", str(tmp_path / "broken.csv.gz"), "--out", str(out), "--bundle", tiny_bundle["bundle"])
    assert result.exit_code == 2 and out.read_text() == "previous run\n"


def test_ray_data_on_local_ray_gives_the_same_decisions(tiny_bundle, export, tmp_path):
    import ray

    # Same chunks both ways: a dynamic-int8 bundle's probabilities depend on which texts share a batch.
    common = ("--data", export[0], "--batch-size", 5, "--bundle", tiny_bundle["bundle"])
    here = _predict(*common, "--out", tmp_path / "here.csv")
    there = _predict(*common, "--out", tmp_path / "ray.csv", "--ray", "local")
    assert here.exit_code == 0 and there.exit_code == 0, there.output
    assert not ray.is_initialized()  # the local Ray it started is shut down
    assert _counts(there.stdout) == (12, 3)
    local, distributed = _read_csv(tmp_path / "here.csv"), _read_csv(tmp_path / "ray.csv")
    exact = ["row", "complaint_id", "masked_text", "team", "issue", "vulnerable", "queue", "model_version"]
    pd.testing.assert_frame_equal(distributed[exact], local[exact])  # same rows, same order, same decisions
    for column in ("team_confidence", "issue_confidence", "vulnerable_probability"):
        np.testing.assert_allclose(distributed[column], local[column], atol=1e-4)  # 1 ONNX thread per actor vs 2
