"""Loaders read each real source format, keep what a citation needs, and reject bad files clearly."""

from __future__ import annotations

import json

import pytest

from rag.entries import chunk, sentences
from rag.loaders import AskCfpbLoader, FaqLoader, TranscriptLoader, load_source, loader_for
from teller.errors import DataError
from teller.settings import KBSource
from tests.kb_fixtures import KB_SOURCES


def test_ask_cfpb_jsonl_keeps_approved_rows_with_citation_fields():
    path = KB_SOURCES / "ask_cfpb" / "ask_cfpb.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()[:200]]
    entries = list(AskCfpbLoader("PD").load(path))
    loaded = {int(e.id.split(":")[1]) for e in entries}
    assert loaded & {r["ask_id"] for r in rows} == {r["ask_id"] for r in rows if r["status"] == "APPROVED"}
    assert all(e.id.startswith("ask_cfpb:") and e.licence == "PD" and e.date == "2017-05" for e in entries)
    assert "ask_cfpb:1" not in {e.id for e in entries}  # status SUBMITTED
    e = entries[0]
    assert e.url.startswith("https://www.consumerfinance.gov/ask-cfpb/") and e.url.endswith(f"-en-{e.id[9:]}/")
    assert e.topic and e.title.endswith("?") and len(e.text) > 50


def test_ask_cfpb_csv_export_reads_the_same_rows_with_entities_unescaped():
    from_csv = {e.id: e for e in AskCfpbLoader().load(KB_SOURCES / "ask_cfpb" / "ask.csv")}
    from_jsonl = {e.id: e for e in AskCfpbLoader().load(KB_SOURCES / "ask_cfpb" / "ask_cfpb.jsonl")}
    assert from_csv.keys() == from_jsonl.keys()
    assert not any("&#" in e.text for e in from_csv.values())


def test_transcripts_become_question_answer_pairs_without_handles_or_signatures():
    entries = list(TranscriptLoader().load(KB_SOURCES / "twitter_customer_care" / "bank_conversations_dev_test.json"))
    assert len(entries) == 35
    assert all(e.url and e.url.startswith("http") and e.date and e.date.startswith("20") for e in entries)
    assert not any("@" in e.title or e.text.startswith("@") for e in entries)
    assert not any(e.text.rstrip().endswith(("^AF", "-Richard")) for e in entries)


def test_faq_ids_are_stable_hashes_of_the_question(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("Question,Answer,Class\nHow do I reset my PIN?,Use the app.,cards\nWhat is NEFT?,A transfer.,x\n")
    first = [e.id for e in FaqLoader().load(path)]
    path.write_text("Question,Answer\nWhat is NEFT?,A transfer.\nHow do I reset my PIN?,Use the app.\n")
    assert sorted(first) == sorted(e.id for e in FaqLoader().load(path))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("ask.jsonl", '{"ask_id": 1, "status": "APPROVED", "question": "Q?", "answer": "A."}\n', "ask_cfpb"),
        ("t.json", '[{"agentURL": {}, "dialogContent": []}]', "transcripts"),
        ("f.csv", "Question,Answer\nQ?,A.\n", "faq"),
    ],
)
def test_format_is_sniffed(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    assert loader_for(KBSource(path=path))[1].name == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("id,text\n1,hello\n", "unknown knowledge-base format"),
        ('{"ask_id": 1, "status": "APPROVED", "question": "Q?", "answer": "A."}\n{broken\n', "line 2"),
        ('{"ask_id": 1, "status": "SUBMITTED", "question": "Q?", "answer": "A."}\n', "no usable ask_cfpb entries"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "source.jsonl"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_source(KBSource(path=path))
    assert message in err.value.message and str(path) in err.value.message
    assert "Fix:" in err.value.message or "line" in err.value.message


def test_faq_without_answer_column_is_rejected(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("Question,Reply\nQ?,A.\n")
    with pytest.raises(DataError, match="lack Question and Answer"):
        load_source(KBSource(path=path, format="faq"))


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_source(KBSource(path=tmp_path / "nope.csv"))


def test_chunks_respect_sentence_boundaries_and_size():
    text = " ".join(f"Sentence number {i} says something useful about fees." for i in range(60))
    parts = chunk(text, max_words=50)
    assert len(parts) > 5
    assert all(len(p.split()) <= 50 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text
    assert sentences("Call 1-800-555-0100. Then wait. <PERSON> said so.") == [
        "Call 1-800-555-0100.",
        "Then wait.",
        "<PERSON> said so.",
    ]


def test_paragraphs_are_never_joined():
    assert chunk("First paragraph.\n\nSecond paragraph.", max_words=100) == ["First paragraph.", "Second paragraph."]
