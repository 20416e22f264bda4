"""`teller evaluate`: the JSON contract anyone uses to check a model on data it never saw."""

import json

import pytest
from typer.testing import CliRunner

from teller.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def _evaluate(*args: str) -> tuple[int, dict | None, str]:
    result = runner.invoke(app, ["evaluate", *args])
    try:
        return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr
    except (json.JSONDecodeError, IndexError):
        return result.exit_code, None, result.output


def test_cfpb_file_reports_triage_heads(tiny_bundle):
    code, out, _ = _evaluate("--data", tiny_bundle["heldout"]["cfpb"], "--bundle", tiny_bundle["bundle"])
    assert code == 0
    assert out["model"]["name"] == "teller-triage" and out["model"]["version"] == tiny_bundle["version"]
    assert out["rows"]["scored"] > 0 and out["rows"]["skipped"] == 0
    assert set(out["heads"]) == {"team", "issue", "vulnerable"}
    for head in out["heads"].values():
        assert {"accuracy", "macro_f1", "weighted_f1", "roc_auc", "per_class"} <= set(head)
    vulnerable = out["heads"]["vulnerable"]
    assert {"precision", "recall", "pr_auc", "threshold"} <= set(vulnerable)
    # The file re-scores exactly the test split the training run reported.
    assert out["heads"]["team"]["accuracy"] == pytest.approx(tiny_bundle["test"]["team"]["accuracy"], abs=1e-3)


def test_banking77_file_reports_intent_only_and_writes_a_report(tiny_bundle, tmp_path):
    code, out, _ = _evaluate(
        "--data", tiny_bundle["heldout"]["banking77"], "--bundle", tiny_bundle["bundle"], "--report", str(tmp_path)
    )
    assert code == 0 and set(out["heads"]) == {"intent"}
    assert (tmp_path / "REPORT.md").exists() and (tmp_path / "confusion_intent.png").exists()


def test_bad_file_is_one_clear_error_without_traceback(tiny_bundle, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Product,Issue\nMortgage,x\n")
    code, out, text = _evaluate("--data", str(bad), "--bundle", tiny_bundle["bundle"])
    assert code == 2 and out is None
    assert "row 1" in text and "Traceback" not in text


def test_missing_bundle_is_a_clear_error(tmp_path):
    code, _, text = _evaluate("--data", str(tmp_path / "x.csv"), "--bundle", str(tmp_path / "nope"))
    assert code == 2 and "bundle directory not found" in text
