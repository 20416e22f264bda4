"""Conversation memory for follow-up questions: a few turns per chat session, owned by the serving layer."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from rag.retrieval import tokens

_FOLLOW_UP_STARTS = ("and ", "what about", "how about", "also ", "what if", "but ", "then ", "so ")
_PRONOUNS = frozenset({"it", "that", "this", "they", "them", "those", "these", "one"})


@dataclass(frozen=True)
class Turn:
    question: str
    answered: bool


class ChatMemory:
    """The last `max_turns` questions of one session; rewrites follow-ups to carry the earlier question."""

    def __init__(self, max_turns: int = 4) -> None:
        self.turns: deque[Turn] = deque(maxlen=max(max_turns, 1))
        self.enabled = max_turns > 0

    def add(self, question: str, answered: bool) -> None:
        if self.enabled:
            self.turns.append(Turn(question, answered))

    def contextualise(self, question: str) -> str:
        """The retrieval query: a follow-up ("what about for a mortgage?") is joined to the last question."""
        if not self.enabled or not self.turns or not is_follow_up(question):
            return question
        return f"{self.turns[-1].question} {question}"


def is_follow_up(question: str) -> bool:
    """Short, or opens like a continuation, or leans on a pronoun with little content of its own."""
    lowered = question.strip().lower()
    words = set(lowered.replace("?", " ").split())
    content = tokens(lowered)
    return len(content) <= 2 or lowered.startswith(_FOLLOW_UP_STARTS) or (bool(words & _PRONOUNS) and len(content) <= 4)


class SessionStore:
    """Chat memories by session id, least recently used dropped first, idle sessions expired."""

    def __init__(self, max_turns: int = 4, max_sessions: int = 10_000, ttl_s: float = 1800.0) -> None:
        self.max_turns, self.max_sessions, self.ttl_s = max_turns, max_sessions, ttl_s
        self._sessions: OrderedDict[str, tuple[float, ChatMemory]] = OrderedDict()

    def get(self, session_id: str) -> ChatMemory:
        now = time.monotonic()
        seen, memory = self._sessions.pop(session_id, (now, None))
        if memory is None or now - seen > self.ttl_s:
            memory = ChatMemory(self.max_turns)
        self._sessions[session_id] = (now, memory)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return memory

    def __len__(self) -> int:
        return len(self._sessions)
