import { useCallback, useEffect, useState } from "react";
import { api, type Attribution, type ComplaintView, confidence, type Taxonomy } from "../api/client";
import { useStaffRequest } from "../api/useStaffRequest";
import { Badge, buttonClass, ErrorAlert, humanise, Loading } from "../components/ui";
import { CorrectionForm } from "./CorrectionForm";
import { Highlighted } from "./Highlighted";

type Props = {
  token: string;
  id: string;
  taxonomy: Taxonomy;
  onUnauthorized: () => void;
  onCorrected: () => void;
};

/** One complaint: masked narrative, the model's decision and version, its explanation, and the correction form. */
export function ComplaintDetail({ token, id, taxonomy, onUnauthorized, onCorrected }: Props) {
  const [complaint, setComplaint] = useState<ComplaintView | null>(null);
  const [explanation, setExplanation] = useState<Attribution | null>(null);
  const [explaining, setExplaining] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const call = useStaffRequest(onUnauthorized, setError);

  const load = useCallback(async () => {
    const found = await call(() => api.complaint(token, id));
    if (found) setComplaint(found);
  }, [call, token, id]);
  useEffect(() => {
    void load();
  }, [load]);

  async function explain() {
    if (!complaint) return;
    setExplaining(true);
    const result = await call(() => api.explain(token, { narrative: complaint.narrative, head: "team" }));
    if (result) setExplanation(result);
    setExplaining(false);
  }

  const decision = complaint?.decisions.at(-1);
  return (
    <section aria-labelledby="detail-title" className="space-y-4 self-start rounded-lg bg-white p-4 shadow lg:sticky lg:top-4">
      <h2 id="detail-title" className="text-lg font-semibold">
        Complaint
      </h2>
      {error && <ErrorAlert>{error}</ErrorAlert>}
      {!complaint && !error && <Loading />}
      {complaint && decision && (
        <>
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
            <dt className="text-slate-500">Reference</dt>
            <dd className="break-all">{complaint.complaint_id}</dd>
            <dt className="text-slate-500">Team</dt>
            <dd data-testid="decision-team">{humanise(decision.team)}</dd>
            <dt className="text-slate-500">Issue</dt>
            <dd>{decision.issue}</dd>
            <dt className="text-slate-500">Vulnerable</dt>
            <dd>{decision.vulnerable ? <Badge tone="warn">Yes: specialist queue</Badge> : "No"}</dd>
            <dt className="text-slate-500">Confidence</dt>
            <dd>{Math.round(confidence(decision) * 100)}%</dd>
            <dt className="text-slate-500">Decided by</dt>
            <dd>
              {decision.model_name} version {decision.model_version}
            </dd>
            <dt className="text-slate-500">Status</dt>
            <dd data-testid="complaint-status">
              <Badge tone={complaint.status === "corrected" ? "good" : "neutral"}>{humanise(complaint.status)}</Badge>
            </dd>
          </dl>
          <div>
            <div className="mb-1 flex items-center justify-between">
              <h3 className="text-sm font-semibold">Narrative (personal details masked)</h3>
              <button type="button" onClick={() => void explain()} disabled={explaining} className={buttonClass}>
                {explaining ? "Explaining…" : "Explain"}
              </button>
            </div>
            {explanation ? (
              <Highlighted attribution={explanation} />
            ) : (
              <p className="max-h-64 overflow-y-auto rounded bg-slate-50 p-2 text-sm whitespace-pre-wrap">{complaint.narrative}</p>
            )}
          </div>
          {complaint.feedback.length > 0 && (
            <div>
              <h3 className="text-sm font-semibold">Corrections</h3>
              <ul className="text-sm" data-testid="corrections">
                {complaint.feedback.map((f) => (
                  <li key={f.created_at}>
                    {f.agent_id}: {[f.team && humanise(f.team), f.issue, f.vulnerable === null ? null : f.vulnerable ? "vulnerable" : "not vulnerable"].filter(Boolean).join(", ")}
                  </li>
                ))}
              </ul>
            </div>
          )}
          <CorrectionForm
            token={token}
            complaintId={complaint.complaint_id}
            decision={decision}
            taxonomy={taxonomy}
            onUnauthorized={onUnauthorized}
            onSaved={() => {
              void load();
              onCorrected();
            }}
          />
        </>
      )}
    </section>
  );
}
