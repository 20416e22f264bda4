"""Retrieval over a built KB: dense (FAISS inner product) or hybrid (BM25 + dense, reciprocal-rank fusion).

Passages are grouped into entries (an entry ranks by its best passage). Relevance, the number abstention
is calibrated on, is always the best dense cosine, so it means the same in both modes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from rag.entries import KBEntry
from rag.index import KnowledgeBase

RRF_K = 60  # the usual reciprocal-rank-fusion constant
TOPIC_BOOST = 0.05  # added to the cosine of entries whose topic suits the classifier's topic
FETCH = 40  # passages fetched per retriever before grouping into entries
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Hit:
    """One retrieved entry: its best passage and scores."""

    entry: KBEntry
    score: float  # dense cosine of the entry's best passage
    chunk: str  # answer text of the best passage that carries one
    rank_score: float  # the score it was ranked by (cosine, plus boost; or RRF)


@dataclass(frozen=True)
class Retrieval:
    """What one query retrieved, best first, with the query's vector for answer trimming."""

    query: str
    vector: np.ndarray
    hits: list[Hit]

    @property
    def relevance(self) -> float:
        return max((h.score for h in self.hits), default=-1.0)


def tokens(text: str) -> list[str]:
    """Lower-case content words: what BM25 and the support check compare."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in ENGLISH_STOP_WORDS]


class Searcher:
    """Ranks KB entries for a query; plain class so serving, evaluation and LangChain share it."""

    def __init__(self, kb: KnowledgeBase, mode: Literal["dense", "hybrid"] = "dense") -> None:
        self.kb, self.mode = kb, mode
        self._bm25 = None
        if mode == "hybrid":
            from rank_bm25 import BM25Okapi

            self._bm25 = BM25Okapi([tokens(d.page_content) for d in kb.documents])

    def search(self, query: str, k: int = 10, kb_topics: list[str] | None = None) -> Retrieval:
        """The top `k` entries for `query`; entries whose topic is in `kb_topics` get a small boost."""
        vector = np.asarray(self.kb.embeddings.encode([query])[0], dtype=np.float32)
        best: dict[str, float] = {}
        for doc, score in self.kb.store.similarity_search_with_score_by_vector(vector.tolist(), k=FETCH):
            eid = doc.metadata["entry_id"]
            best[eid] = max(best.get(eid, -1.0), float(score))
        boost = set(kb_topics or ())
        rank = {eid: s + (TOPIC_BOOST if self.kb.entries[eid].topic in boost else 0.0) for eid, s in best.items()}
        if self._bm25 is not None:
            rank = self._fuse(query, vector, rank, best, boost)
        ordered = sorted(rank, key=rank.__getitem__, reverse=True)[:k]
        hits = [Hit(self.kb.entries[eid], best[eid], self._best_chunk(eid, vector), rank[eid]) for eid in ordered]
        return Retrieval(query, vector, hits)

    def _best_chunk(self, eid: str, vector: np.ndarray) -> str:
        """The answer chunk of the entry's passage closest to the query."""
        rows = [i for i in self.kb.rows[eid] if self.kb.documents[i].metadata["kind"] == "passage"]
        if not rows:
            return self.kb.entries[eid].text
        i = rows[int(np.argmax(self.kb.vectors[rows] @ vector))]
        return self.kb.documents[i].metadata["chunk"]

    def _fuse(self, query: str, vector: np.ndarray, dense: dict, best: dict, boost: set) -> dict[str, float]:
        """Reciprocal-rank fusion of the dense entry ranking and BM25's (each entry ranked by its best passage)."""
        scores = self._bm25.get_scores(tokens(query))
        lexical: dict[str, float] = {}
        for i in np.argsort(-scores)[:FETCH]:
            if scores[i] <= 0:
                break
            lexical.setdefault(self.kb.documents[i].metadata["entry_id"], float(scores[i]))
        for eid in lexical.keys() - best.keys():  # lexical-only hits still need a dense score for relevance
            best[eid] = float(np.max(self.kb.vectors[self.kb.rows[eid]] @ vector))
        fused: dict[str, float] = {}
        for ranking in (dense, lexical):
            for r, eid in enumerate(sorted(ranking, key=ranking.__getitem__, reverse=True), start=1):
                fused[eid] = fused.get(eid, 0.0) + 1.0 / (RRF_K + r)
        for eid in fused:
            if self.kb.entries[eid].topic in boost:
                fused[eid] += TOPIC_BOOST / RRF_K
        return fused


class KBRetriever(BaseRetriever):
    """LangChain retriever over a `Searcher`: one Document per entry, citation fields in its metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    searcher: Searcher
    k: int = 3

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = self.searcher.search(query, k=self.k)
        return [
            Document(
                page_content=h.chunk or h.entry.text,
                metadata={"id": h.entry.id, "title": h.entry.title, "url": h.entry.url, "score": h.score},
            )
            for h in result.hits
        ]
