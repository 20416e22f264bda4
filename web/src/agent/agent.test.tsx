import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ComplaintView, Taxonomy } from "../api/client";
import { mockFetch } from "../test/fetch";
import { AgentConsole } from "./AgentConsole";
import { CorrectionForm } from "./CorrectionForm";
import { Highlighted } from "./Highlighted";
import { TokenGate } from "./TokenGate";

afterEach(() => vi.unstubAllGlobals());

const taxonomy: Taxonomy = {
  teams: ["credit_card", "debt_collection"],
  issues: ["Late fee", "Attempts to collect debt not owed"],
  queues: ["credit_card", "debt_collection", "specialist-vulnerable"],
};
const decision = {
  model_name: "teller-triage",
  model_version: "7",
  team: "debt_collection",
  issue: "Attempts to collect debt not owed",
  vulnerable: true,
  probabilities: { team: { debt_collection: 0.83 } },
  latency_ms: 12,
  created_at: "2026-11-24T10:00:00Z",
};
const complaint: ComplaintView = {
  complaint_id: "c-1",
  created_at: "2026-11-24T10:00:00Z",
  narrative: "I am <PERSON> and a collector calls me.",
  product: null,
  channel: "web",
  queue: "specialist-vulnerable",
  status: "open",
  decisions: [decision],
  feedback: [],
};

describe("TokenGate", () => {
  it("hands over a token the API accepts", async () => {
    const calls = mockFetch({ "/api/dashboard": { body: {} } });
    const onToken = vi.fn();
    render(<TokenGate onToken={onToken} />);
    await userEvent.type(screen.getByLabelText("Agent token"), "good{Enter}");
    await vi.waitFor(() => expect(onToken).toHaveBeenCalledWith("good"));
    expect(calls[0]!.headers.get("Authorization")).toBe("Bearer good");
  });

  it("says so when the token is refused", async () => {
    mockFetch({ "/api/dashboard": { status: 401, body: { detail: "no" } } });
    const onToken = vi.fn();
    render(<TokenGate onToken={onToken} />);
    await userEvent.type(screen.getByLabelText("Agent token"), "bad{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("not accepted");
    expect(onToken).not.toHaveBeenCalled();
  });
});

describe("AgentConsole", () => {
  it("lists the queue with the deciding model and opens a complaint", async () => {
    mockFetch({
      "/api/taxonomy": { body: taxonomy },
      "/api/complaints": { body: [complaint] },
      "/api/complaints/c-1": { body: complaint },
    });
    render(<AgentConsole token="t" onUnauthorized={() => {}} />);
    const row = (await screen.findByRole("button", { name: "Open complaint c-1" })).closest("tr")!;
    expect(within(row).getByText("Specialist")).toBeInTheDocument();
    expect(within(row).getByText("83%")).toBeInTheDocument();
    expect(within(row).getByText("7")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Open complaint c-1" }));
    expect(await screen.findByTestId("decision-team")).toHaveTextContent("Debt collection");
    expect(screen.getByText("teller-triage version 7")).toBeInTheDocument();
  });

  it("signs the agent out when the token stops working", async () => {
    mockFetch({
      "/api/taxonomy": { body: taxonomy },
      "/api/complaints": { status: 401, body: { detail: "expired" } },
    });
    const onUnauthorized = vi.fn();
    render(<AgentConsole token="t" onUnauthorized={onUnauthorized} />);
    await vi.waitFor(() => expect(onUnauthorized).toHaveBeenCalled());
  });
});

describe("CorrectionForm", () => {
  it("posts the agent's labels and reports success", async () => {
    const calls = mockFetch({ "/api/complaints/c-1/feedback": { status: 201, body: { complaint_id: "c-1", status: "corrected" } } });
    const onSaved = vi.fn();
    render(<CorrectionForm token="t" complaintId="c-1" decision={decision} taxonomy={taxonomy} onUnauthorized={() => {}} onSaved={onSaved} />);
    expect(screen.queryByRole("group", { name: "Most likely (model)" })).toBeNull();
    await userEvent.selectOptions(screen.getByLabelText("Team"), "credit_card");
    await userEvent.selectOptions(screen.getByLabelText("Vulnerable customer"), "no");
    await userEvent.click(screen.getByRole("button", { name: "Save correction" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("agent ID");
    expect(calls).toHaveLength(0);
    await userEvent.type(screen.getByLabelText("Agent ID"), "agent-9");
    await userEvent.click(screen.getByRole("button", { name: "Save correction" }));
    expect(await screen.findByText("Correction saved.")).toBeInTheDocument();
    expect(calls[0]!.body).toEqual({
      agent_id: "agent-9",
      team: "credit_card",
      issue: "Attempts to collect debt not owed",
      vulnerable: false,
    });
    expect(onSaved).toHaveBeenCalledOnce();
  });

  it("lists the model's likely issues first, best first, and posts the one the agent picks", async () => {
    const calls = mockFetch({ "/api/complaints/c-1/feedback": { status: 201, body: { complaint_id: "c-1", status: "corrected" } } });
    const issue = { "Late fee": 0.2, "Attempts to collect debt not owed": 0.7, "Retired issue": 0.1 };
    const withIssues = { ...decision, probabilities: { ...decision.probabilities, issue } };
    render(<CorrectionForm token="t" complaintId="c-1" decision={withIssues} taxonomy={taxonomy} onUnauthorized={() => {}} onSaved={() => {}} />);
    const likely = screen.getByRole("group", { name: "Most likely (model)" });
    const options = within(likely).getAllByRole("option");
    expect(options.map((o) => o.textContent)).toEqual(["Attempts to collect debt not owed (70%)", "Late fee (20%)"]);
    await userEvent.selectOptions(screen.getByLabelText("Issue"), options[1]!);
    await userEvent.type(screen.getByLabelText("Agent ID"), "agent-9");
    await userEvent.click(screen.getByRole("button", { name: "Save correction" }));
    expect(await screen.findByText("Correction saved.")).toBeInTheDocument();
    expect(calls[0]!.body).toMatchObject({ issue: "Late fee" });
  });

  it("keeps the form and shows the API's message when the label is refused", async () => {
    mockFetch({ "/api/complaints/c-1/feedback": { status: 422, body: { detail: "unknown team 'x'" } } });
    render(<CorrectionForm token="t" complaintId="c-1" decision={decision} taxonomy={taxonomy} onUnauthorized={() => {}} onSaved={() => {}} />);
    await userEvent.type(screen.getByLabelText("Agent ID"), "agent-9");
    await userEvent.click(screen.getByRole("button", { name: "Save correction" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("unknown team 'x'");
    expect(screen.getByLabelText("Agent ID")).toHaveValue("agent-9");
  });
});

describe("Highlighted", () => {
  it("marks the words that supported the decision", () => {
    render(
      <Highlighted
        attribution={{ method: "occlusion", head: "team", label: "debt_collection", probability: 0.9, tokens: ["the", "collector", "calls"], weights: [0.0, 0.4, -0.1] }}
      />,
    );
    const marks = screen.getByTestId("explanation").querySelectorAll("mark");
    expect([...marks].map((m) => m.textContent?.trim())).toEqual(["collector"]);
    expect(screen.getByText(/Debt collection/)).toBeInTheDocument();
  });
});
