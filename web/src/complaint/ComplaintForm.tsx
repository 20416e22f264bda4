import { type FormEvent, useState } from "react";
import { api, errorMessage, type ComplaintDecision } from "../api/client";
import { buttonClass, ErrorAlert, humanise, inputClass } from "../components/ui";

const PRODUCTS = [
  "Checking or savings account",
  "Credit card",
  "Credit reporting or other personal consumer reports",
  "Debt collection",
  "Mortgage",
  "Student loan",
  "Vehicle loan or lease",
  "Money transfer, virtual currency, or money service",
];

/** The customer's complaint form: files the complaint and shows the reference and the team it went to. */
export function ComplaintForm() {
  const [narrative, setNarrative] = useState("");
  const [product, setProduct] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [filed, setFiled] = useState<ComplaintDecision | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!narrative.trim()) {
      setError("Please tell us what happened before sending.");
      return;
    }
    setSending(true);
    setError(null);
    try {
      setFiled(await api.fileComplaint({ narrative, product: product || null, channel: "web" }));
      setNarrative("");
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setSending(false);
    }
  }

  return (
    <section aria-labelledby="complaint-title" className="mx-auto max-w-2xl rounded-lg bg-white p-5 shadow">
      <h1 id="complaint-title" className="mb-1 text-lg font-semibold">
        File a complaint
      </h1>
      <p className="mb-4 text-sm text-slate-600">
        Tell us what went wrong. A member of the right team will review it; we remove personal details before storing it.
      </p>
      {filed && (
        <div role="status" className="mb-4 rounded border border-emerald-300 bg-emerald-50 p-3 text-sm">
          <p className="font-medium">Thank you. Your complaint has been filed.</p>
          <p>
            Reference: <code data-testid="complaint-ref">{filed.complaint_id}</code>
          </p>
          <p>
            It is with our <strong>{humanise(filed.team)}</strong> team
            {filed.vulnerable ? ", and a specialist will contact you." : "."}
          </p>
        </div>
      )}
      <form onSubmit={submit} className="space-y-4" noValidate>
        <div>
          <label htmlFor="product" className="mb-1 block text-sm font-medium">
            Product (optional)
          </label>
          <select id="product" value={product} onChange={(e) => setProduct(e.target.value)} className={inputClass}>
            <option value="">Not sure</option>
            {PRODUCTS.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="narrative" className="mb-1 block text-sm font-medium">
            What happened?
          </label>
          <textarea
            id="narrative"
            value={narrative}
            onChange={(e) => setNarrative(e.target.value)}
            rows={7}
            maxLength={50000}
            aria-invalid={error !== null && !narrative.trim()}
            className={inputClass}
          />
        </div>
        {error && <ErrorAlert>{error}</ErrorAlert>}
        <button type="submit" disabled={sending} className={buttonClass}>
          {sending ? "Sending…" : "Send complaint"}
        </button>
      </form>
    </section>
  );
}
