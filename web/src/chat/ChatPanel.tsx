import { type FormEvent, useEffect, useRef, useState } from "react";
import { api, errorMessage, type ChatResponse } from "../api/client";
import { Badge, buttonClass, ErrorAlert, humanise, inputClass } from "../components/ui";
import { HANDOFF_MESSAGES } from "./handoff";
import { Sources } from "./Sources";

type Turn =
  | { id: number; role: "visitor"; text: string; masked: boolean }
  | { id: number; role: "teller"; reply: ChatResponse };

/** The public chat: asks the API, shows cited answers or a hand-off, and echoes the visitor's text masked. */
export function ChatPanel() {
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState("");
  const [sessionId, setSessionId] = useState<string>();
  const [waiting, setWaiting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const nextId = useRef(0);
  const end = useRef<HTMLDivElement>(null);

  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "end" }); // browsers may return a promise: not an effect cleanup
  }, [turns, waiting]);

  async function send(event: FormEvent) {
    event.preventDefault();
    const message = draft.trim();
    if (!message || waiting) return;
    const id = nextId.current++;
    setTurns((t) => [...t, { id, role: "visitor", text: message, masked: false }]);
    setDraft("");
    setError(null);
    setWaiting(true);
    try {
      const reply = await api.chat(message, sessionId);
      setSessionId(reply.session_id);
      setTurns((t) => [
        ...t.map((turn) => (turn.id === id ? { ...turn, text: reply.masked_message, masked: true } : turn)),
        { id: nextId.current++, role: "teller", reply },
      ]);
    } catch (err) {
      setTurns((t) => t.filter((turn) => turn.id !== id));
      setDraft(message); // nothing typed is lost: the message goes back into the box to retry
      setError(errorMessage(err));
    } finally {
      setWaiting(false);
    }
  }

  return (
    <section aria-labelledby="chat-title" className="mx-auto flex max-w-2xl flex-col rounded-lg bg-white shadow">
      <h1 id="chat-title" className="border-b px-4 py-3 text-lg font-semibold">
        Ask us a question
      </h1>
      <div role="log" aria-live="polite" aria-label="Conversation" className="flex min-h-80 flex-col gap-3 overflow-y-auto p-4 sm:max-h-[60vh]">
        {turns.length === 0 && (
          <p className="text-sm text-slate-500">
            Ask about accounts, cards, loans, credit reports or fees. Please don't share account numbers here.
          </p>
        )}
        {turns.map((turn) => (turn.role === "visitor" ? <VisitorBubble key={turn.id} turn={turn} /> : <TellerBubble key={turn.id} reply={turn.reply} />))}
        {waiting && (
          <p role="status" className="self-start text-sm text-slate-500">
            <span aria-hidden="true" className="mr-1 inline-block animate-pulse">●●●</span>
            Teller is typing…
          </p>
        )}
        <div ref={end} />
      </div>
      {error && (
        <div className="px-4 pb-2">
          <ErrorAlert>{error}</ErrorAlert>
        </div>
      )}
      <form onSubmit={send} className="flex gap-2 border-t p-3">
        <label htmlFor="chat-input" className="sr-only">
          Your message
        </label>
        <input
          id="chat-input"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          maxLength={5000}
          autoComplete="off"
          placeholder="Type your question"
          className={inputClass}
        />
        <button type="submit" disabled={waiting || !draft.trim()} className={buttonClass}>
          Send
        </button>
      </form>
    </section>
  );
}

function VisitorBubble({ turn }: { turn: Extract<Turn, { role: "visitor" }> }) {
  return (
    <div className="max-w-[85%] self-end rounded-lg bg-teal-700 px-3 py-2 text-sm text-white">
      <span className="sr-only">You said: </span>
      {turn.text}
      {turn.masked && turn.text.includes("<") && (
        <span className="mt-1 block text-xs text-teal-100">Personal details were hidden for your safety.</span>
      )}
    </div>
  );
}

function TellerBubble({ reply }: { reply: ChatResponse }) {
  return (
    <article aria-label="Teller's reply" className="max-w-[85%] self-start rounded-lg bg-slate-100 px-3 py-2 text-sm">
      <div className="mb-1 flex flex-wrap gap-1">
        {reply.topic !== "out_of_scope" && (
          <Badge tone="info" label={`Topic: ${humanise(reply.topic)}`}>
            {humanise(reply.topic)}
          </Badge>
        )}
        {reply.handoff && <Badge tone="warn">Passed to a person</Badge>}
      </div>
      {reply.handoff ? (
        <p data-testid="handoff">{HANDOFF_MESSAGES[reply.handoff_reason ?? "low_confidence"]}</p>
      ) : (
        <p data-testid="answer">{reply.answer}</p>
      )}
      {reply.sources.length > 0 && <Sources sources={reply.sources} />}
    </article>
  );
}
