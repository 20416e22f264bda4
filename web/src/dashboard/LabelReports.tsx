import { useCallback } from "react";
import { api, type DiscoveredCluster, type LabelProposal } from "../api/client";
import { useStaffData } from "../api/useStaffRequest";
import { Badge, buttonClass, ErrorAlert, humanise, Loading } from "../components/ui";
import { Bars, percent } from "./Bars";

type Props = { token: string; onUnauthorized: () => void };
const BEFORE_AFTER = [
  { key: "before", name: "Before", fill: "#94a3b8" },
  { key: "after", name: "After", fill: "#0f766e" },
];

/** What `teller labels` found: proposed labels before/after, and clusters of complaints the model is unsure of. */
export function LabelReports({ token, onUnauthorized }: Props) {
  const load = useCallback(() => api.labels(token), [token]);
  const { data: reports, error, reload } = useStaffData(load, onUnauthorized);

  if (error) return <ErrorAlert>{error}</ErrorAlert>;
  if (!reports) return <Loading />;
  return (
    <div className="space-y-6">
      <div className="flex items-center justify-between">
        <h1 className="text-lg font-semibold">Labels</h1>
        <button type="button" onClick={() => void reload()} className={buttonClass}>
          Refresh
        </button>
      </div>
      {reports.unreadable.length > 0 && (
        <ErrorAlert>Could not read {reports.unreadable.join(", ")}: run the command that wrote it again.</ErrorAlert>
      )}
      <section aria-labelledby="proposals-title" className="space-y-4">
        <h2 id="proposals-title" className="font-semibold">
          Proposed labels
        </h2>
        {reports.proposals.length === 0 ? (
          <p className="text-sm text-slate-500">
            No label proposed yet: <code>teller labels propose NAME --description TEXT --example TEXT</code>.
          </p>
        ) : (
          reports.proposals.map((p) => <Proposal key={p.name} proposal={p} />)
        )}
      </section>
      <section aria-labelledby="discovery-title" className="space-y-4">
        <h2 id="discovery-title" className="font-semibold">
          Unsure complaints, clustered
        </h2>
        {reports.discovery === null ? (
          <p className="text-sm text-slate-500">
            No discovery run yet: <code>teller labels discover</code>.
          </p>
        ) : (
          <>
            <p className="text-sm text-slate-600" data-testid="discovery-summary">
              Model {reports.discovery.model_version} scored {reports.discovery.scored} {reports.discovery.head} texts;{" "}
              {reports.discovery.uncertain} were below {percent(reports.discovery.max_confidence)} confidence and fall
              into {reports.discovery.clusters.length} clusters. Name a cluster with <code>teller labels propose</code>.
            </p>
            <div className="grid gap-4 lg:grid-cols-2">
              {reports.discovery.clusters.map((c) => (
                <Cluster key={c.id} cluster={c} />
              ))}
            </div>
          </>
        )}
      </section>
    </div>
  );
}

function Proposal({ proposal: p }: { proposal: LabelProposal }) {
  const distribution = p.distribution.map((d) => ({ label: d.label === p.name ? d.label : humanise(d.label), before: d.before, after: d.after }));
  const confidence = p.confidence_before.map((before, i) => ({ bin: `${i * 10}–${i * 10 + 10}%`, before, after: p.confidence_after[i] ?? 0 }));
  return (
    <article aria-label={`Proposed label ${p.name}`} className="rounded-lg bg-white p-4 shadow">
      <div className="flex flex-wrap items-center gap-2">
        <h3 className="font-semibold">{p.name}</h3>
        <Badge tone={p.accepted ? "good" : "warn"}>{p.accepted ? "in the taxonomy" : "awaiting review"}</Badge>
        <Badge tone="info">{p.head}</Badge>
      </div>
      <p className="mt-1 text-sm text-slate-600">{p.description}</p>
      <p className="mt-1 text-sm" data-testid="proposal-counts">
        {p.proposed} of {p.rows} texts at score ≥ {p.threshold.toFixed(3)} (expected precision {percent(p.expected_precision)}, recall{" "}
        {percent(p.expected_recall)})
      </p>
      <div className="mt-3 grid gap-4 lg:grid-cols-2">
        <Paired title={`Label distribution with ${p.name}`} data={distribution} x="label" horizontal />
        {confidence.length > 0 && <Paired title={`Label confidence with ${p.name}`} data={confidence} x="bin" />}
      </div>
    </article>
  );
}

function Cluster({ cluster: c }: { cluster: DiscoveredCluster }) {
  return (
    <article aria-label={`Cluster ${c.id}`} className="rounded-lg bg-white p-4 shadow">
      <div className="flex items-center justify-between text-sm">
        <strong>{c.size} complaints</strong>
        <span className="text-slate-600">mean confidence {percent(c.mean_confidence)}</span>
      </div>
      <ul className="mt-2 flex flex-wrap gap-1" aria-label="Distinctive terms">
        {c.top_terms.map((t) => (
          <li key={t}>
            <Badge tone="info">{t}</Badge>
          </li>
        ))}
      </ul>
      <p className="mt-2 text-xs text-slate-600">
        Predicted today: {Object.entries(c.predicted).map(([label, n]) => `${label} (${n})`).join(", ") || "–"}
      </p>
      <ul className="mt-2 space-y-2">
        {c.examples.map((e, i) => (
          <li key={i} title={e.text} className="line-clamp-4 border-l-2 border-slate-300 pl-2 text-sm text-slate-800">
            {e.text}
          </li>
        ))}
      </ul>
    </article>
  );
}

function Paired({ title, data, x, horizontal = false }: { title: string; data: Record<string, string | number>[]; x: string; horizontal?: boolean }) {
  return (
    <section aria-label={title}>
      <h4 className="mb-1 text-sm font-medium">{title}</h4>
      <Bars data={data} x={x} series={BEFORE_AFTER} horizontal={horizontal} />
    </section>
  );
}
