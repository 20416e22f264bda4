import { render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Dashboard } from "../api/client";
import { mockFetch } from "../test/fetch";
import { ModelDashboard } from "./ModelDashboard";

afterEach(() => vi.unstubAllGlobals());

const board: Dashboard = {
  decisions: 10,
  models: [
    { model_name: "teller-triage", model_version: "7", role: "champion", traffic_percent: 90, observed_share: 0.8 },
    { model_name: "teller-triage", model_version: "8", role: "canary", traffic_percent: 10, observed_share: 0.2 },
  ],
  teams: { credit_card: 6, debt_collection: 4 },
  issues: { "Late fee": 10 },
  vulnerable: 3,
  confidence: [0, 0, 0, 0, 0, 1, 1, 2, 2, 4],
  agreement: [
    { head: "team", reviewed: 4, agreed: 3, rate: 0.75 },
    { head: "issue", reviewed: 0, agreed: 0, rate: null },
    { head: "vulnerable", reviewed: 2, agreed: 2, rate: 1 },
  ],
};

describe("ModelDashboard", () => {
  it("shows the rollout split, the charts and the agreement rates", async () => {
    mockFetch({ "/api/dashboard": { body: board } });
    render(<ModelDashboard token="t" onUnauthorized={() => {}} />);
    const rollout = await screen.findByTestId("rollout");
    const canary = within(rollout).getByText("canary").closest("tr")!;
    expect(canary).toHaveTextContent("8");
    expect(canary).toHaveTextContent("10%");
    expect(canary).toHaveTextContent("20%");
    expect(screen.getByRole("region", { name: "Routing confidence" })).toBeInTheDocument();
    const agreement = screen.getByTestId("agreement");
    expect(agreement).toHaveTextContent("Team75% of 4 reviewed");
    expect(agreement).toHaveTextContent("Issue– of 0 reviewed");
    expect(screen.getByText("3 of 10 recent decisions flagged a vulnerable customer.")).toBeInTheDocument();
  });

  it("shows the API's error", async () => {
    mockFetch({ "/api/dashboard": { status: 503, body: { detail: "agent endpoints are disabled" } } });
    render(<ModelDashboard token="t" onUnauthorized={() => {}} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("agent endpoints are disabled");
  });
});
