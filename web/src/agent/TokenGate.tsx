import { type FormEvent, useState } from "react";
import { api, ApiError, errorMessage } from "../api/client";
import { buttonClass, ErrorAlert, inputClass } from "../components/ui";

/** Asks staff for the agent token and checks it against the API; the token is kept in memory only. */
export function TokenGate({ onToken }: { onToken: (token: string) => void }) {
  const [token, setToken] = useState("");
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setChecking(true);
    setError(null);
    try {
      await api.dashboard(token.trim(), 1);
      onToken(token.trim());
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "That token was not accepted. Use the agent token `teller serve` printed."
          : errorMessage(err),
      );
    } finally {
      setChecking(false);
    }
  }

  return (
    <section aria-labelledby="signin-title" className="mx-auto max-w-md rounded-lg bg-white p-5 shadow">
      <h1 id="signin-title" className="mb-3 text-lg font-semibold">
        Staff sign-in
      </h1>
      <form onSubmit={submit} className="space-y-3">
        <label htmlFor="agent-token" className="block text-sm font-medium">
          Agent token
        </label>
        <input
          id="agent-token"
          type="password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          autoComplete="off"
          required
          className={inputClass}
        />
        {error && <ErrorAlert>{error}</ErrorAlert>}
        <button type="submit" disabled={checking || !token.trim()} className={buttonClass}>
          {checking ? "Checking…" : "Sign in"}
        </button>
      </form>
    </section>
  );
}
