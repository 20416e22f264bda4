// Typed client of the Teller HTTP API. Types come from the gateway's OpenAPI spec (`npm run gen:api`),
// so a changed field fails `tsc`, not the user.
import type { components } from "./schema";

type Schemas = components["schemas"];
export type ChatResponse = Schemas["ChatResponse"];
export type Citation = Schemas["Citation"];
export type ComplaintRequest = Schemas["ComplaintRequest"];
export type ComplaintDecision = Schemas["ComplaintDecision"];
export type ComplaintView = Schemas["ComplaintView"];
export type DecisionRecord = Schemas["DecisionRecord"];
export type FeedbackRequest = Schemas["FeedbackRequest"];
export type FeedbackAck = Schemas["FeedbackAck"];
export type Attribution = Schemas["Attribution"];
export type ExplainRequest = Schemas["ExplainRequest"];
export type Taxonomy = Schemas["Taxonomy"];
export type Dashboard = Schemas["Dashboard"];
export type LabelReports = Schemas["LabelReports"];
export type LabelProposal = Schemas["LabelProposal"];
export type DiscoveredCluster = Schemas["DiscoveredCluster"];
export type HandoffReason = NonNullable<ChatResponse["handoff_reason"]>;

/** An API failure with a message a person can act on; status 0 means the server was not reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type ErrorBody = { detail?: unknown; error?: string; problems?: string[] };

function describe(status: number, body: ErrorBody | null): string {
  if (typeof body?.detail === "string") return body.detail;
  if (body?.error) return [body.error, ...(body.problems ?? [])].join(": ");
  return `The server answered ${status}. Please try again.`;
}

async function request<T>(path: string, init: RequestInit = {}, token?: string): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body) headers.set("Content-Type", "application/json");
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch {
    throw new ApiError(0, "Teller can't be reached right now. Check your connection and try again.");
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => null)) as ErrorBody | null;
    throw new ApiError(response.status, describe(response.status, body));
  }
  return (await response.json()) as T;
}

/** What to tell the user about a failed call: the API's own message, never a raw script error. */
export function errorMessage(err: unknown): string {
  return err instanceof ApiError ? err.message : "Something went wrong. Please try again.";
}

const post = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });

export const api = {
  chat: (message: string, sessionId?: string) =>
    request<ChatResponse>("/api/chat", post({ message, session_id: sessionId ?? null })),
  fileComplaint: (body: ComplaintRequest) => request<ComplaintDecision>("/api/complaints", post(body)),
  taxonomy: () => request<Taxonomy>("/api/taxonomy"),
  complaints: (token: string, filters: { queue?: string; status?: string; limit?: number } = {}) => {
    const given = Object.entries(filters).filter(([, v]) => v !== undefined && v !== "");
    const query = new URLSearchParams(given.map(([k, v]) => [k, String(v)]));
    return request<ComplaintView[]>(`/api/complaints?${query}`, {}, token);
  },
  complaint: (token: string, id: string) =>
    request<ComplaintView>(`/api/complaints/${encodeURIComponent(id)}`, {}, token),
  correct: (token: string, id: string, body: FeedbackRequest) =>
    request<FeedbackAck>(`/api/complaints/${encodeURIComponent(id)}/feedback`, post(body), token),
  explain: (token: string, body: ExplainRequest) => request<Attribution>("/api/explain", post(body), token),
  dashboard: (token: string, limit = 500) => request<Dashboard>(`/api/dashboard?limit=${limit}`, {}, token),
  labels: (token: string) => request<LabelReports>("/api/labels", {}, token),
};

/** The routing confidence of a decision: the probability of the chosen team. */
export function confidence(decision: Pick<DecisionRecord, "team" | "probabilities">): number {
  return decision.probabilities.team?.[decision.team] ?? 0;
}

/** The model's most likely issues for a decision, best first, with their probabilities; issues outside `known` are left out. */
export function likelyIssues(decision: Pick<DecisionRecord, "probabilities">, known: string[], n = 3): [string, number][] {
  return Object.entries(decision.probabilities.issue ?? {})
    .filter(([issue]) => known.includes(issue))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n);
}
