import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { mockFetch } from "../test/fetch";
import { ComplaintForm } from "./ComplaintForm";

afterEach(() => vi.unstubAllGlobals());

describe("ComplaintForm", () => {
  it("files the complaint and shows its reference and team", async () => {
    const calls = mockFetch({ "/api/complaints": { body: { complaint_id: "c-42", team: "debt_collection", vulnerable: true } } });
    render(<ComplaintForm />);
    await userEvent.selectOptions(screen.getByLabelText("Product (optional)"), "Debt collection");
    await userEvent.type(screen.getByLabelText("What happened?"), "A collector calls me daily.");
    await userEvent.click(screen.getByRole("button", { name: "Send complaint" }));
    expect(await screen.findByTestId("complaint-ref")).toHaveTextContent("c-42");
    expect(screen.getByRole("status")).toHaveTextContent("Debt collection team, and a specialist will contact you");
    expect(calls[0]!.body).toEqual({ narrative: "A collector calls me daily.", product: "Debt collection", channel: "web" });
  });

  it("asks for the narrative instead of sending an empty complaint", async () => {
    const calls = mockFetch({});
    render(<ComplaintForm />);
    await userEvent.click(screen.getByRole("button", { name: "Send complaint" }));
    expect(screen.getByRole("alert")).toHaveTextContent("tell us what happened");
    expect(calls).toHaveLength(0);
  });
});
