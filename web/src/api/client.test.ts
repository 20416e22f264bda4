import { afterEach, describe, expect, it, vi } from "vitest";
import { mockFetch } from "../test/fetch";
import { api, ApiError, confidence, errorMessage } from "./client";

afterEach(() => vi.unstubAllGlobals());

describe("api client", () => {
  it("posts chat messages as JSON and returns the reply", async () => {
    const calls = mockFetch({ "/api/chat": { body: { session_id: "s1", answer: "Yes." } } });
    const reply = await api.chat("Hello", "s1");
    expect(reply.answer).toBe("Yes.");
    expect(calls[0]).toMatchObject({ method: "POST", body: { message: "Hello", session_id: "s1" } });
    expect(calls[0]!.headers.get("Content-Type")).toBe("application/json");
    expect(calls[0]!.headers.has("Authorization")).toBe(false);
  });

  it("sends the agent token as a bearer header and filters as a query", async () => {
    const calls = mockFetch({ "/api/complaints": { body: [] } });
    await api.complaints("secret", { queue: "credit_card", status: "", limit: 50 });
    expect(calls[0]!.path).toBe("/api/complaints?queue=credit_card&limit=50");
    expect(calls[0]!.headers.get("Authorization")).toBe("Bearer secret");
  });

  it("turns the API's messages into ApiErrors", async () => {
    mockFetch({
      "/api/complaints/x": { status: 401, body: { detail: "agent endpoints need the header" } },
      "/api/complaints": { status: 422, body: { error: "invalid request", problems: ["narrative: Field required"] } },
    });
    await expect(api.complaint("t", "x")).rejects.toEqual(new ApiError(401, "agent endpoints need the header"));
    await expect(api.fileComplaint({ narrative: "" })).rejects.toThrow("invalid request: narrative: Field required");
  });

  it("says the server is unreachable when the network fails", async () => {
    mockFetch({ "/api/taxonomy": new TypeError("Failed to fetch") });
    const error = await api.taxonomy().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(0);
    expect((error as ApiError).message).toMatch(/can't be reached/);
  });

  it("shows people the API's messages, never a raw script error", () => {
    expect(errorMessage(new ApiError(422, "text 0 is blank"))).toBe("text 0 is blank");
    expect(errorMessage(new SyntaxError("Unexpected token < in JSON"))).toBe("Something went wrong. Please try again.");
  });

  it("reads the routing confidence of a decision", () => {
    expect(confidence({ team: "cards", probabilities: { team: { cards: 0.8, loans: 0.2 } } })).toBe(0.8);
    expect(confidence({ team: "cards", probabilities: {} })).toBe(0);
  });
});
