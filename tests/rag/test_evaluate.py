"""Question sets, id matching, the metrics JSON, threshold calibration and the kb CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rag.evaluate import EvalQuestion, choose_threshold, evaluate, load_questions, matches, rank_of
from teller.cli import app
from teller.errors import DataError

runner = CliRunner()
KEYS = {"n", "hit_at_1", "hit_at_3", "mrr", "abstain_precision", "abstain_recall", "false_abstain_rate", "latency_ms"}


def test_bare_and_qualified_ids_both_match():
    ids = ["ask_cfpb:55", "faq:ab12"]
    assert matches("55", ids) and matches("ask_cfpb:55", ids) and matches("ab12", ids)
    assert not matches("5", ids) and not matches("faq:55", ids)
    q = EvalQuestion(question="q", expected_ids=[55])
    assert rank_of(q, [["ask_cfpb:7"], ["ask_cfpb:55"]]) == 2 and rank_of(q, [["ask_cfpb:7"]]) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "q"}', "either"),
        ('{"question": "q", "expected_ids": ["1"], "expected": "none"}', "either"),
        ('{"question": "", "expected": "none"}', "at least 1"),
        ("not json", "bad question"),
    ],
)
def test_bad_question_lines_name_the_line(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "fine", "expected": "none"}\n' + line + "\n")
    with pytest.raises(DataError) as err:
        load_questions(path)
    assert "line 2" in err.value.message and message in err.value.message


def test_threshold_separates_the_groups():
    answerable = np.array([0.6, 0.7, 0.8, 0.65])
    unanswerable = np.array([0.1, 0.2, 0.3, 0.62])
    threshold, stats = choose_threshold(answerable, unanswerable)
    assert 0.3 < threshold < 0.6
    assert stats["abstain_recall"] == 0.75 and stats["false_abstain_rate"] == 0.0


def test_evaluate_reports_every_metric(answerer, small_kb):
    in_kb = [e for e in small_kb.entries.values() if e.source == "ask_cfpb"][:5]
    questions = [EvalQuestion(question=e.title, expected_ids=[e.id.split(":")[1]]) for e in in_kb]
    questions += [EvalQuestion(question="how tall is mount everest", expected="none")]
    result = evaluate(answerer, questions)
    assert set(result) == KEYS and result["n"] == 6
    assert result["hit_at_1"] == 1.0 and result["mrr"] == 1.0  # a question finds its own entry
    assert result["abstain_recall"] == 1.0 and result["false_abstain_rate"] == 0.0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"]


def test_kb_cli_build_ask_and_eval(small_kb, kb_sources, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("TELLER_RAG__KB_DIR", str(small_kb.path))
    from teller.settings import get_settings

    get_settings.cache_clear()
    asked = runner.invoke(app, ["kb", "ask", "--json", "How do I get my free annual credit report?"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["citations"] and answer["citations"][0]["id"] in small_kb.entries

    questions = tmp_path / "q.jsonl"
    entry = next(e for e in small_kb.entries.values() if e.source == "ask_cfpb")
    questions.write_text(
        json.dumps({"question": entry.title, "expected_ids": [entry.id]})
        + "\n"
        + json.dumps({"question": "play some jazz music", "expected": "none"})
        + "\n"
    )
    evaluated = runner.invoke(app, ["kb", "eval", "--questions", str(questions)])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert set(result) == KEYS and result["hit_at_1"] == 1.0 and result["abstain_recall"] == 1.0

    benched = runner.invoke(app, ["kb", "bench", "--questions", str(questions), "--rounds", "2"])
    assert benched.exit_code == 0, benched.output
    engines = json.loads(benched.stdout.strip().splitlines()[-1])
    assert set(engines) == {"torch", "kb_onnx"} and engines["torch"]["x_mean"] == 1.0
    assert engines["kb_onnx"]["same_retrieval"] == 1.0  # the KB's encoder retrieves what torch retrieves
    assert all(0 < e["p50"] <= e["p95"] for e in engines.values())

    built = runner.invoke(app, ["kb", "build", "--source", str(kb_sources[2].path), "--out", str(tmp_path / "kb2")])
    assert built.exit_code == 0, built.output
    assert "entries" in built.stdout and (tmp_path / "kb2" / "manifest.json").is_file()

    bad = runner.invoke(app, ["kb", "build", "--source", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "k3")])
    assert bad.exit_code == 2 and "file not found" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "k3").exists()
    get_settings.cache_clear()


def test_kb_commands_reject_unknown_answerers():
    for command in (["kb", "eval", "--answerer", "oracle"], ["kb", "ask", "--answerer", "oracle", "hi"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "--answerer" in result.output and "extractive" in result.output
