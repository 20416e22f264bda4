import { render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { LabelReports as Reports } from "../api/client";
import { mockFetch } from "../test/fetch";
import { LabelReports } from "./LabelReports";

afterEach(() => vi.unstubAllGlobals());

const reports: Reports = {
  proposals: [
    {
      name: "Crypto wallet freeze",
      head: "issue",
      description: "The bank froze a crypto wallet transfer.",
      created: "2026-12-02T09:00:00+00:00",
      rows: 200,
      proposed: 14,
      threshold: 0.3124,
      expected_precision: 0.71,
      expected_recall: 0.8,
      accepted: false,
      distribution: [
        { label: "Crypto wallet freeze", before: 0, after: 14 },
        { label: "Late fee", before: 120, after: 110 },
      ],
      confidence_before: [0, 0, 0, 0, 5, 5, 10, 20, 60, 100],
      confidence_after: [0, 0, 0, 1, 5, 5, 10, 20, 59, 100],
    },
  ],
  discovery: {
    created: "2026-12-02T10:00:00+00:00",
    model_version: "20261202.133608",
    head: "issue",
    scored: 2000,
    uncertain: 1135,
    max_confidence: 0.5,
    clusters: [
      {
        id: 0,
        size: 91,
        top_terms: ["zelle", "scam"],
        mean_confidence: 0.34,
        predicted: { "Fraud or scam": 60 },
        examples: [{ text: "I sent <PERSON> money on Zelle and it was a scam", confidence: 0.3 }],
      },
    ],
  },
  unreadable: ["old/summary.json"],
};

describe("LabelReports", () => {
  it("shows proposals with their counts and charts, and the clusters with terms and examples", async () => {
    const calls = mockFetch({ "/api/labels": { body: reports } });
    render(<LabelReports token="t" onUnauthorized={() => {}} />);
    const proposal = await screen.findByRole("article", { name: "Proposed label Crypto wallet freeze" });
    expect(within(proposal).getByText("awaiting review")).toBeInTheDocument();
    expect(within(proposal).getByTestId("proposal-counts")).toHaveTextContent(
      "14 of 200 texts at score ≥ 0.312 (expected precision 71%, recall 80%)",
    );
    expect(within(proposal).getByRole("region", { name: "Label confidence with Crypto wallet freeze" })).toBeInTheDocument();
    expect(screen.getByTestId("discovery-summary")).toHaveTextContent("1135 were below 50% confidence and fall into 1 clusters");
    const cluster = screen.getByRole("article", { name: "Cluster 0" });
    expect(within(cluster).getByRole("list", { name: "Distinctive terms" })).toHaveTextContent("zelle");
    expect(cluster).toHaveTextContent("Predicted today: Fraud or scam (60)");
    expect(cluster).toHaveTextContent("I sent <PERSON> money on Zelle");
    expect(screen.getByRole("alert")).toHaveTextContent("Could not read old/summary.json");
    expect(calls[0]!.headers.get("Authorization")).toBe("Bearer t");
  });

  it("says which command to run when nothing is there yet", async () => {
    mockFetch({ "/api/labels": { body: { proposals: [], discovery: null, unreadable: [] } } });
    render(<LabelReports token="t" onUnauthorized={() => {}} />);
    expect(await screen.findByText(/No label proposed yet/)).toHaveTextContent("teller labels propose");
    expect(screen.getByText(/No discovery run yet/)).toHaveTextContent("teller labels discover");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("signs out on 401", async () => {
    mockFetch({ "/api/labels": { status: 401, body: { detail: "send Authorization: Bearer <agent token>" } } });
    const onUnauthorized = vi.fn();
    render(<LabelReports token="bad" onUnauthorized={onUnauthorized} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Authorization: Bearer");
    expect(onUnauthorized).toHaveBeenCalled();
  });
});
