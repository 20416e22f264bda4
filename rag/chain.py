"""The answer chain: masked question (+ the classifier's topic) → retriever → answerer, as LangChain runnables."""

from __future__ import annotations

from langchain_core.runnables import RunnableLambda

from rag.answer import Answer, ExtractiveAnswerer, GenerativeAnswerer
from rag.index import KnowledgeBase
from rag.llm import ChatClient, LocalGGUF, OpenAIChat
from rag.memory import ChatMemory
from rag.retrieval import Retrieval, Searcher
from teller.errors import TellerError
from teller.settings import RagSettings, get_settings
from teller.taxonomy import load_taxonomy

RETRIEVE_K = 10


def make_client(settings: RagSettings) -> ChatClient:
    """The chat model the settings name (`openai` endpoint or the `local` GGUF)."""
    if settings.answerer == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIChat(settings.openai_url, settings.openai_model, key, settings.llm_timeout_s)
    return LocalGGUF(settings.local_model_path, threads=settings.llm_threads)


class Answerer:
    """Answers masked chat questions from the KB with citations, or hands off; one instance per process."""

    def __init__(
        self, kb: KnowledgeBase | None = None, settings: RagSettings | None = None, client: ChatClient | None = None
    ) -> None:
        settings = settings or get_settings().rag
        self.kb = kb or KnowledgeBase(get_settings().kb_dir)
        self.searcher = Searcher(self.kb, settings.retrieval)
        self.threshold = (
            settings.abstain_threshold if settings.abstain_threshold is not None else self.kb.manifest.abstain_threshold
        )
        extractive = ExtractiveAnswerer(self.kb.embeddings, self.threshold, settings.top_k)
        if settings.answerer == "extractive" and client is None:
            self.respond = extractive
        else:
            self.respond = GenerativeAnswerer(client or make_client(settings), extractive, settings.llm_max_tokens)
        self.topics = load_taxonomy().topics
        self.chain = RunnableLambda(self._retrieve) | RunnableLambda(self.respond)

    @property
    def name(self) -> str:
        return self.respond.name

    def answer(self, question: str, topic: str | None = None, memory: ChatMemory | None = None) -> Answer:
        """Answer one masked question; `topic` (a chat topic) boosts matching KB topics; `memory` adds context."""
        if not question or not question.strip():
            raise TellerError("the question is empty", "question", "send the customer's message text")
        query = memory.contextualise(question) if memory else question
        answer: Answer = self.chain.invoke({"query": query, "topic": topic})
        if memory is not None:
            memory.add(question, not answer.handoff)
        return answer.model_copy(update={"question": question, "kb_version": self.kb.version})

    def _retrieve(self, inputs: dict) -> Retrieval:
        topic = self.topics.get(inputs.get("topic") or "")
        return self.searcher.search(inputs["query"], k=RETRIEVE_K, kb_topics=topic.kb_topics if topic else None)
