import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { mockFetch } from "./test/fetch";

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = "";
});

describe("App", () => {
  it("opens the chat by default", () => {
    render(<App />);
    expect(screen.getByRole("link", { name: "Chat" })).toHaveAttribute("aria-current", "page");
    expect(screen.getByLabelText("Your message")).toBeInTheDocument();
  });

  it("keeps the agent token in memory only and forgets it on sign-out", async () => {
    mockFetch({ "/api/dashboard": { body: {} }, "/api/taxonomy": { body: { teams: [], issues: [], queues: [] } }, "/api/complaints": { body: [] } });
    window.location.hash = "#/agent";
    render(<App />);
    await userEvent.type(screen.getByLabelText("Agent token"), "secret-token{Enter}");
    expect(await screen.findByText("No complaints in this queue.")).toBeInTheDocument();
    expect(localStorage.length + sessionStorage.length).toBe(0);
    expect(document.cookie).not.toContain("secret-token");
    await userEvent.click(screen.getByRole("button", { name: "Sign out" }));
    expect(screen.getByLabelText("Agent token")).toHaveValue("");
  });
});
