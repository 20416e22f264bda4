import { type FormEvent, type ReactNode, useState } from "react";
import { api, type DecisionRecord, likelyIssues, type Taxonomy } from "../api/client";
import { useStaffRequest } from "../api/useStaffRequest";
import { buttonClass, ErrorAlert, humanise, inputClass } from "../components/ui";

type Props = {
  token: string;
  complaintId: string;
  decision: DecisionRecord;
  taxonomy: Taxonomy;
  onUnauthorized: () => void;
  onSaved: () => void;
};

/** The agent's review: the right team, issue and vulnerability, starting from the model's; posted as feedback.
 * The issue list opens with the model's most likely issues, which may belong to another team when the routing is wrong. */
export function CorrectionForm({ token, complaintId, decision, taxonomy, onUnauthorized, onSaved }: Props) {
  const [agentId, setAgentId] = useState("");
  const [team, setTeam] = useState(decision.team);
  const [issue, setIssue] = useState(taxonomy.issues.includes(decision.issue) ? decision.issue : "");
  const [vulnerable, setVulnerable] = useState(decision.vulnerable ? "yes" : "no");
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const call = useStaffRequest(onUnauthorized, setError);
  const likely = likelyIssues(decision, taxonomy.issues);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!agentId.trim()) {
      setError("Enter your agent ID so the correction can be traced to you.");
      return;
    }
    setSaving(true);
    setSaved(false);
    const body = { agent_id: agentId.trim(), team, issue: issue || null, vulnerable: vulnerable === "yes" };
    const ack = await call(() => api.correct(token, complaintId, body));
    setSaving(false);
    if (ack) {
      setSaved(true);
      onSaved();
    }
  }

  return (
    <form onSubmit={submit} aria-labelledby="correct-title" className="space-y-3 border-t pt-3" noValidate>
      <h3 id="correct-title" className="text-sm font-semibold">
        Review and correct
      </h3>
      <div className="grid gap-3 sm:grid-cols-2">
        <Field id="agent-id" label="Agent ID">
          <input id="agent-id" value={agentId} onChange={(e) => setAgentId(e.target.value)} className={inputClass} maxLength={100} />
        </Field>
        <Field id="correct-team" label="Team">
          <select id="correct-team" value={team} onChange={(e) => setTeam(e.target.value)} className={inputClass}>
            {taxonomy.teams.map((t) => (
              <option key={t} value={t}>
                {humanise(t)}
              </option>
            ))}
          </select>
        </Field>
        <Field id="correct-issue" label="Issue">
          <select id="correct-issue" value={issue} onChange={(e) => setIssue(e.target.value)} className={inputClass}>
            <option value="">Leave as is</option>
            {likely.length > 0 && (
              <optgroup label="Most likely (model)">
                {likely.map(([i, p]) => (
                  <option key={i} value={i}>
                    {i} ({Math.round(p * 100)}%)
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="All issues">
              {taxonomy.issues.map((i) => (
                <option key={i}>{i}</option>
              ))}
            </optgroup>
          </select>
        </Field>
        <Field id="correct-vulnerable" label="Vulnerable customer">
          <select id="correct-vulnerable" value={vulnerable} onChange={(e) => setVulnerable(e.target.value)} className={inputClass}>
            <option value="no">No</option>
            <option value="yes">Yes: specialist queue</option>
          </select>
        </Field>
      </div>
      {error && <ErrorAlert>{error}</ErrorAlert>}
      {saved && (
        <p role="status" className="text-sm text-emerald-700">
          Correction saved.
        </p>
      )}
      <button type="submit" disabled={saving} className={buttonClass}>
        {saving ? "Saving…" : "Save correction"}
      </button>
    </form>
  );
}

function Field({ id, label, children }: { id: string; label: string; children: ReactNode }) {
  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-xs font-medium text-slate-600">
        {label}
      </label>
      {children}
    </div>
  );
}
