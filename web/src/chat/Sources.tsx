import type { Citation } from "../api/client";

/** The KB entries an answer cites, collapsed by default. */
export function Sources({ sources }: { sources: Citation[] }) {
  return (
    <details className="mt-2 text-xs">
      <summary className="cursor-pointer font-medium text-teal-800">
        Sources ({sources.length})
      </summary>
      <ol className="mt-1 list-decimal space-y-1 pl-5">
        {sources.map((s) => (
          <li key={s.id}>
            {s.url ? (
              <a href={s.url} target="_blank" rel="noreferrer" className="font-medium text-teal-800 underline">
                {s.title}
              </a>
            ) : (
              <span className="font-medium">{s.title}</span>
            )}
            <span className="text-slate-500"> · {s.source}{s.date ? `, ${s.date}` : ""}</span>
            <p className="text-slate-600">{s.snippet}</p>
          </li>
        ))}
      </ol>
    </details>
  );
}
