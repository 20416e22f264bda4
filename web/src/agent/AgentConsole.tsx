import { useCallback, useEffect, useState } from "react";
import { api, confidence, type ComplaintView, type Taxonomy } from "../api/client";
import { useStaffRequest } from "../api/useStaffRequest";
import { Badge, buttonClass, ErrorAlert, humanise, inputClass, Loading } from "../components/ui";
import { ComplaintDetail } from "./ComplaintDetail";

type Props = { token: string; onUnauthorized: () => void };

const PAGE_SIZE = 50;

/** The triage queues: every complaint with the model's routing, and a detail view to explain and correct it. */
export function AgentConsole({ token, onUnauthorized }: Props) {
  const [taxonomy, setTaxonomy] = useState<Taxonomy | null>(null);
  const [queue, setQueue] = useState("");
  const [status, setStatus] = useState("open");
  const [rows, setRows] = useState<ComplaintView[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const call = useStaffRequest(onUnauthorized, setError);

  const load = useCallback(async () => {
    const found = await call(() => api.complaints(token, { queue, status, limit: PAGE_SIZE }));
    if (found) setRows(found);
  }, [call, token, queue, status]);

  useEffect(() => {
    void call(() => api.taxonomy()).then((t) => t && setTaxonomy(t));
  }, [call]);
  useEffect(() => {
    void load();
  }, [load]);

  return (
    <div className="grid gap-6 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
      <section aria-labelledby="queue-title" className="rounded-lg bg-white p-4 shadow">
        <div className="mb-3 flex flex-wrap items-end gap-3">
          <h1 id="queue-title" className="mr-auto text-lg font-semibold">
            Triage queue
          </h1>
          <div>
            <label htmlFor="queue-filter" className="block text-xs font-medium text-slate-600">
              Queue
            </label>
            <select id="queue-filter" value={queue} onChange={(e) => setQueue(e.target.value)} className={inputClass}>
              <option value="">All queues</option>
              {taxonomy?.queues.map((q) => (
                <option key={q} value={q}>
                  {humanise(q)}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor="status-filter" className="block text-xs font-medium text-slate-600">
              Status
            </label>
            <select id="status-filter" value={status} onChange={(e) => setStatus(e.target.value)} className={inputClass}>
              <option value="open">Open</option>
              <option value="corrected">Corrected</option>
              <option value="">All</option>
            </select>
          </div>
          <button type="button" onClick={() => void load()} className={buttonClass}>
            Refresh
          </button>
        </div>
        {error && <ErrorAlert>{error}</ErrorAlert>}
        {rows === null && !error && <Loading />}
        {rows?.length === 0 && <p className="text-sm text-slate-500">No complaints in this queue.</p>}
        {rows && rows.length > 0 && <QueueTable rows={rows} selected={selected} onSelect={setSelected} />}
        {rows?.length === PAGE_SIZE && (
          <p className="mt-2 text-xs text-slate-500">Showing the newest {PAGE_SIZE}; filter by queue or status to narrow.</p>
        )}
      </section>
      {selected && taxonomy && (
        <ComplaintDetail
          key={selected}
          token={token}
          id={selected}
          taxonomy={taxonomy}
          onUnauthorized={onUnauthorized}
          onCorrected={() => void load()}
        />
      )}
    </div>
  );
}

function QueueTable({ rows, selected, onSelect }: { rows: ComplaintView[]; selected: string | null; onSelect: (id: string) => void }) {
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">Complaints, newest first</caption>
        <thead className="border-b text-xs text-slate-500 uppercase">
          <tr>
            <th scope="col" className="py-2 pr-2">Received</th>
            <th scope="col" className="pr-2">Queue</th>
            <th scope="col" className="pr-2">Team</th>
            <th scope="col" className="pr-2">Issue</th>
            <th scope="col" className="pr-2">Confidence</th>
            <th scope="col">Model</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const decision = row.decisions.at(-1);
            return (
              <tr key={row.complaint_id} aria-selected={selected === row.complaint_id} className="border-b last:border-0 aria-selected:bg-teal-50">
                <td className="py-2 pr-2 whitespace-nowrap">
                  <button type="button" onClick={() => onSelect(row.complaint_id)} className="text-teal-800 underline" aria-label={`Open complaint ${row.complaint_id}`}>
                    {new Date(row.created_at).toLocaleString()}
                  </button>
                </td>
                <td className="pr-2">
                  {row.queue === "specialist-vulnerable" ? <Badge tone="warn">Specialist</Badge> : humanise(row.queue)}
                </td>
                <td className="pr-2">{decision && humanise(decision.team)}</td>
                <td className="pr-2">{decision?.issue}</td>
                <td className="pr-2">{decision && `${Math.round(confidence(decision) * 100)}%`}</td>
                <td className="whitespace-nowrap">{decision?.model_version}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
