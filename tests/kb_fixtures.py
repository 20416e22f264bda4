"""Session fixtures: a small real knowledge base built from slices of every shared KB source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teller.settings import KBSource, get_settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

KB_SOURCES = SHARED / "kb"
PLANTED = {
    "name": "Jonathan Whitfield",
    "email": "jon.whitfield@example.com",
    "phone": "212-555-0143",
    "account": "4417123456789113",
}


def planted_thread() -> dict:
    """A customer-care thread whose customer turn carries PII that must never reach the index."""
    return {
        "agentURL": {
            "doc_id": "1",
            "turn": "2",
            "url": "https://www.example-bank.com/help/declined-debit-card",
            "url_utterance": f"@jwhit Hi {PLANTED['name'].split()[0]}, a declined debit card is often a daily "
            "limit. Please check the limits page for your card.",
        },
        "dialogContent": [
            {
                "client": "jwhit",
                "message": f"@BankHelp I'm {PLANTED['name']}, email {PLANTED['email']}, call me on "
                f"{PLANTED['phone']}. My debit card {PLANTED['account']} keeps getting declined at the store!",
            }
        ],
        "dialogHeader": {
            "company": "BankHelp",
            "conversationDateTime": "2020-03-01T10:00:00.000Z",
            "sessionID": "PII1",
        },
    }


def write_slices(root: Path) -> list[KBSource]:
    """Ask CFPB's first 300 rows, the bank transcripts plus a planted-PII thread, 200 FAQ rows plus a duplicate."""
    root.mkdir(parents=True, exist_ok=True)
    ask = root / "ask_cfpb.jsonl"
    lines = (KB_SOURCES / "ask_cfpb" / "ask_cfpb.jsonl").read_text().splitlines()[:300]
    ask.write_text("\n".join(lines) + "\n")
    threads = json.loads((KB_SOURCES / "twitter_customer_care" / "bank_conversations_dev_test.json").read_text())
    transcripts = root / "threads.json"
    transcripts.write_text(json.dumps([*threads, planted_thread()]))
    faq_lines = (KB_SOURCES / "bank_faqs" / "BankFAQs.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    faq = root / "faq.csv"
    faq.write_text("".join(faq_lines[:201]) + faq_lines[1])
    return [
        KBSource(path=ask, format="auto", licence="Public domain"),
        KBSource(path=transcripts, format="auto"),
        KBSource(path=faq, format="auto"),
    ]


@pytest.fixture(scope="session")
def kb_sources(tmp_path_factory) -> list[KBSource]:
    return write_slices(tmp_path_factory.mktemp("kb-sources"))


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory, kb_sources):
    """Build the KB with the real pipeline (Presidio, MiniLM, FAISS, calibration) into a temp dir."""
    from rag.build import build
    from rag.index import KnowledgeBase
    from teller.masking import MaskCache

    out = tmp_path_factory.mktemp("kb") / "kb"
    build(kb_sources, out, mask_cache=MaskCache(out.parent / "masked.sqlite"))
    return KnowledgeBase(out)


@pytest.fixture(scope="session")
def answerer(small_kb):
    from rag.chain import Answerer

    return Answerer(small_kb, get_settings().rag)
