"""The built index: manifest, masking, merging, atomic rebuilds."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag.build import build
from rag.entries import KBEntry
from rag.index import KnowledgeBase, merge_exact
from teller.errors import DataError
from teller.settings import KBSource
from tests.crash import crash_moving_in
from tests.kb_fixtures import PLANTED


def test_manifest_describes_the_kb(small_kb, kb_sources):
    m = small_kb.manifest
    assert len(m.version) == 16 and m.embedder.endswith("all-MiniLM-L6-v2")
    assert m.entries == len(small_kb.entries) and m.passages == small_kb.store.index.ntotal > m.entries
    assert [s["loader"] for s in m.sources] == ["ask_cfpb", "transcripts", "faq"]
    assert m.merged_duplicates >= 1  # the repeated FAQ row at least
    assert m.calibration["answerable"] >= 20 and 0.2 < m.abstain_threshold < 0.9


def test_every_entry_has_citation_fields(small_kb):
    for e in small_kb.entries.values():
        assert e.id.split(":")[0] == e.source and e.title and e.text
    cfpb = [e for e in small_kb.entries.values() if e.source == "ask_cfpb"]
    assert all(e.url and e.date and e.licence == "Public domain" for e in cfpb)


def test_planted_pii_never_reaches_the_index(small_kb):
    stored = b"".join(p.read_bytes() for p in small_kb.path.rglob("*") if p.is_file())
    for value in PLANTED.values():
        assert value.encode() not in stored, value
    thread = small_kb.entries["transcripts:PII1"]
    assert "<EMAIL_ADDRESS>" in thread.title and "<PHONE_NUMBER>" in thread.title
    assert thread.url == "https://www.example-bank.com/help/declined-debit-card"  # links are not masked


def test_exact_duplicates_merge_into_the_first():
    a = KBEntry(id="faq:1", source="faq", title="How do I reset my PIN?", text="Use the app.")
    b = KBEntry(id="faq:2", source="faq", title="how do I reset my PIN", text="Use the app!")
    c = KBEntry(id="faq:3", source="faq", title="How do I close my account?", text="Visit a branch.")
    merged = merge_exact([a, b, c])
    assert [e.id for e in merged] == ["faq:1", "faq:3"] and merged[0].aliases == ["faq:2"]


def test_a_bad_source_fails_before_touching_the_previous_kb(small_kb, tmp_path, data_dir):
    before = (small_kb.path / "manifest.json").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("Question,Answer\n")
    with pytest.raises(DataError):
        build([KBSource(path=bad, format="faq")], small_kb.path)
    assert (small_kb.path / "manifest.json").read_text() == before


def test_a_crash_while_swapping_in_a_rebuild_keeps_the_previous_kb_served(tmp_path, data_dir, monkeypatch):
    from rag.embeddings import MiniLMEmbeddings
    from rag.index import build_kb
    from rag.retrieval import Searcher

    embeddings = MiniLMEmbeddings()
    faq, out = tmp_path / "faq.csv", tmp_path / "kb"
    faq.write_text("Question,Answer\nHow do I reset my PIN?,Use the mobile app under Cards.\n")
    before = build_kb([KBSource(path=faq)], out, embeddings)
    faq.write_text("Question,Answer\nHow do I close my account?,Visit a branch with photo ID.\n")
    moves = crash_moving_in(monkeypatch, out)
    with pytest.raises(OSError, match="simulated crash"):
        build_kb([KBSource(path=faq)], out, embeddings)
    assert moves, "the rebuild never reached the swap"
    kb = KnowledgeBase(out, embeddings)
    assert kb.version == before.version
    (hit,) = Searcher(kb).search("reset my PIN", k=1).hits
    assert hit.entry.title == "How do I reset my PIN?"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".kb.")] == []


def test_version_is_a_content_hash(tmp_path, data_dir):
    faq = tmp_path / "faq.csv"
    faq.write_text("Question,Answer\nHow do I reset my PIN?,Use the mobile app under Cards.\n")
    first = build([KBSource(path=faq)], tmp_path / "a").version
    assert build([KBSource(path=faq)], tmp_path / "b").version == first
    faq.write_text("Question,Answer\nHow do I reset my PIN?,Call us.\n")
    changed = build([KBSource(path=faq)], tmp_path / "c")
    assert changed.version != first
    assert changed.calibration == {}  # the bundled calibration set does not fit this KB: default threshold
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["entries"] == 1


def test_missing_kb_says_how_to_build_one(tmp_path):
    from teller.errors import TellerError

    with pytest.raises(TellerError, match="teller kb build"):
        KnowledgeBase(tmp_path / "none")


def test_the_kb_ships_its_query_encoder_so_answering_needs_no_torch(small_kb, tmp_path, caplog):
    from rag.embeddings import ENCODER_DIR, MiniLMEmbeddings, OnnxEmbeddings, kb_embeddings

    assert isinstance(small_kb.embeddings, OnnxEmbeddings)
    texts = ["How do I dispute a charge?", *(d.page_content for d in small_kb.documents[:40])]
    torch_encoder = MiniLMEmbeddings()
    np.testing.assert_allclose(small_kb.embeddings.encode(texts), torch_encoder.encode(texts), atol=1e-5)

    older = tmp_path / "older"
    shutil.copytree(small_kb.path, older, ignore=shutil.ignore_patterns(ENCODER_DIR))
    with caplog.at_level(logging.WARNING, logger="rag.embeddings"):
        assert isinstance(kb_embeddings(older), MiniLMEmbeddings)
    assert "teller kb build" in caplog.text

    script = (
        "import sys; from rag.chain import Answerer; from rag.index import KnowledgeBase; "
        "from teller.settings import get_settings; "
        f"kb = KnowledgeBase({str(small_kb.path)!r}); "
        "a = Answerer(kb, get_settings().rag).answer('How do I dispute a charge?'); "
        "print(bool(a.citations), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
