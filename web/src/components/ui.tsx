// Small shared pieces: badges, alerts, spinners, with the same look everywhere.
import type { ReactNode } from "react";

const TONES = {
  neutral: "bg-slate-100 text-slate-700",
  info: "bg-sky-100 text-sky-800",
  warn: "bg-amber-100 text-amber-900",
  good: "bg-emerald-100 text-emerald-800",
} as const;

export function Badge({ children, tone = "neutral", label }: { children: ReactNode; tone?: keyof typeof TONES; label?: string }) {
  return (
    <span aria-label={label} className={`inline-block rounded-full px-2 py-0.5 text-xs font-medium ${TONES[tone]}`}>
      {children}
    </span>
  );
}

export function ErrorAlert({ children }: { children: ReactNode }) {
  return (
    <div role="alert" className="rounded border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800">
      {children}
    </div>
  );
}

export function Loading({ children = "Loading…" }: { children?: ReactNode }) {
  return (
    <p role="status" className="text-sm text-slate-500">
      {children}
    </p>
  );
}

export const buttonClass =
  "rounded bg-teal-700 px-4 py-2 text-sm font-medium text-white hover:bg-teal-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-teal-700 disabled:opacity-50";
export const inputClass =
  "w-full rounded border border-slate-300 bg-white px-3 py-2 text-sm focus:border-teal-600 focus:outline-2 focus:outline-teal-600";

/** A label for people: snake_case and kebab-case labels as words. */
export function humanise(label: string): string {
  const text = label.replace(/[_-]+/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
