import { useCallback } from "react";
import { api } from "../api/client";
import { useStaffData } from "../api/useStaffRequest";
import { Badge, buttonClass, ErrorAlert, humanise, Loading } from "../components/ui";
import { Bars, percent } from "./Bars";

type Props = { token: string; onUnauthorized: () => void };
const DECISIONS = [{ key: "n", name: "Decisions", fill: "#0f766e" }];

/** What ML engineers watch: versions in the rollout, label and confidence distributions, agreement with agents. */
export function ModelDashboard({ token, onUnauthorized }: Props) {
  const load = useCallback(() => api.dashboard(token), [token]);
  const { data: board, error, reload } = useStaffData(load, onUnauthorized);

  if (error) return <ErrorAlert>{error}</ErrorAlert>;
  if (!board) return <Loading />;
  const teams = Object.entries(board.teams).map(([label, n]) => ({ label: humanise(label), n }));
  const issues = Object.entries(board.issues).map(([label, n]) => ({ label, n }));
  const histogram = board.confidence.map((n, i) => ({ bin: `${i * 10}–${i * 10 + 10}%`, n }));
  return (
    <div className="space-y-6">
      <div className="flex items-center justify-between">
        <h1 className="text-lg font-semibold">Model dashboard</h1>
        <button type="button" onClick={() => void reload()} className={buttonClass}>
          Refresh
        </button>
      </div>
      <section aria-labelledby="rollout-title" className="rounded-lg bg-white p-4 shadow">
        <h2 id="rollout-title" className="mb-2 font-semibold">
          Rollout
        </h2>
        <table className="w-full text-left text-sm" data-testid="rollout">
          <thead className="border-b text-xs text-slate-500 uppercase">
            <tr>
              <th scope="col" className="py-1">Version</th>
              <th scope="col">Role</th>
              <th scope="col">Configured traffic</th>
              <th scope="col">Share of last {board.decisions} decisions</th>
            </tr>
          </thead>
          <tbody>
            {board.models.map((m) => (
              <tr key={`${m.model_name}:${m.model_version}`} className="border-b last:border-0">
                <td className="py-1">
                  {m.model_name} <strong>{m.model_version}</strong>
                </td>
                <td>{m.role ? <Badge tone={m.role === "champion" ? "good" : "info"}>{m.role}</Badge> : <Badge>retired</Badge>}</td>
                <td>{m.traffic_percent === null ? "–" : `${m.traffic_percent}%`}</td>
                <td>{percent(m.observed_share)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <div className="grid gap-6 lg:grid-cols-2">
        <Chart title="Routing decisions by team" data={teams} x="label" />
        <Chart title="Routing confidence" data={histogram} x="bin" />
        <Chart title="Top issues" data={issues} x="label" horizontal />
        <section aria-labelledby="agreement-title" className="rounded-lg bg-white p-4 shadow">
          <h2 id="agreement-title" className="mb-2 font-semibold">
            Agreement with agents' corrections
          </h2>
          <p className="mb-2 text-sm text-slate-600">
            {board.vulnerable} of {board.decisions} recent decisions flagged a vulnerable customer.
          </p>
          <ul className="space-y-1 text-sm" data-testid="agreement">
            {board.agreement.map((a) => (
              <li key={a.head} className="flex justify-between">
                <span>{humanise(a.head)}</span>
                <span>
                  <strong>{percent(a.rate)}</strong> of {a.reviewed} reviewed
                </span>
              </li>
            ))}
          </ul>
        </section>
      </div>
    </div>
  );
}

function Chart({ title, data, x, horizontal = false }: { title: string; data: Record<string, string | number>[]; x: string; horizontal?: boolean }) {
  return (
    <section aria-label={title} className="rounded-lg bg-white p-4 shadow">
      <h2 className="mb-2 font-semibold">{title}</h2>
      {data.length === 0 ? <p className="text-sm text-slate-500">No decisions yet.</p> : <Bars data={data} x={x} series={DECISIONS} horizontal={horizontal} />}
    </section>
  );
}
