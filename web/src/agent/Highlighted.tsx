import type { Attribution } from "../api/client";
import { humanise } from "../components/ui";

/** The narrative with each word shaded by how much it supported the decision (occlusion weights). */
export function Highlighted({ attribution }: { attribution: Attribution }) {
  const top = Math.max(...attribution.weights, 1e-6);
  return (
    <figure>
      <figcaption className="mb-1 text-xs text-slate-600">
        Words that drove “{humanise(attribution.label)}” ({Math.round(attribution.probability * 100)}%) are highlighted.
      </figcaption>
      <p className="max-h-64 overflow-y-auto rounded bg-slate-50 p-2 text-sm leading-7" data-testid="explanation">
        {attribution.tokens.map((token, i) => {
          const weight = attribution.weights[i] ?? 0;
          const strength = Math.max(0, weight) / top;
          return strength > 0.15 ? (
            <mark key={i} title={`+${weight.toFixed(3)}`} style={{ backgroundColor: `rgba(245, 158, 11, ${0.2 + 0.8 * strength})` }} className="rounded px-0.5">
              {token}{" "}
            </mark>
          ) : (
            <span key={i}>{token} </span>
          );
        })}
      </p>
    </figure>
  );
}
