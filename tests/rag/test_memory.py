"""Follow-up questions carry the previous turn; sessions are bounded."""

from __future__ import annotations

from rag.memory import ChatMemory, SessionStore, is_follow_up


def test_follow_ups_are_joined_to_the_last_question():
    memory = ChatMemory(max_turns=2)
    assert memory.contextualise("what about for a mortgage?") == "what about for a mortgage?"  # nothing yet
    memory.add("How do I dispute an error on my credit report?", answered=True)
    assert memory.contextualise("what about for a mortgage?").startswith("How do I dispute")
    standalone = "Can a debt collector call me at work about a medical bill?"
    assert memory.contextualise(standalone) == standalone


def test_follow_up_detection():
    assert is_follow_up("and for savings?") and is_follow_up("how long does it take?")
    assert not is_follow_up("How long does a bankruptcy stay on my credit report?")


def test_memory_keeps_only_the_last_turns():
    memory = ChatMemory(max_turns=2)
    for q in ("one question here", "two question here", "three question here"):
        memory.add(q, answered=True)
    assert [t.question for t in memory.turns] == ["two question here", "three question here"]
    assert ChatMemory(max_turns=0).contextualise("and that?") == "and that?"


def test_session_store_is_bounded_and_expires(monkeypatch):
    store = SessionStore(max_turns=3, max_sessions=2, ttl_s=10)
    store.get("a").add("first", True)
    store.get("b")
    store.get("c")
    assert len(store) == 2 and not store.get("a").turns  # "a" was evicted
    clock = [100.0]
    monkeypatch.setattr("rag.memory.time.monotonic", lambda: clock[0])
    store.get("d").add("remember me", True)
    clock[0] += 11
    assert not store.get("d").turns


def test_chat_memory_flows_through_the_answerer(answerer):
    memory = ChatMemory()
    first = answerer.answer("How do I get my free annual credit report?", memory=memory)
    follow = answerer.answer("and how often?", memory=memory)
    assert not first.handoff and not follow.handoff
    assert len(memory.turns) == 2 and follow.question == "and how often?"
