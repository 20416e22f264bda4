// A stand-in for `fetch` in unit tests: answers by path and records every call.
import { vi } from "vitest";

export type Reply = { status?: number; body?: unknown } | Error;
export type Call = { path: string; method: string; headers: Headers; body: unknown };

export function mockFetch(routes: Record<string, Reply | ((call: Call) => Reply)>) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (input: string, init: RequestInit = {}) => {
    const call: Call = {
      path: input,
      method: init.method ?? "GET",
      headers: new Headers(init.headers),
      body: init.body ? JSON.parse(String(init.body)) : undefined,
    };
    calls.push(call);
    const key = Object.keys(routes).find((route) => input.split("?")[0] === route);
    if (!key) throw new Error(`unexpected request ${input}`);
    const route = routes[key]!;
    const reply = typeof route === "function" ? route(call) : route;
    if (reply instanceof Error) throw reply;
    return new Response(JSON.stringify(reply.body ?? {}), {
      status: reply.status ?? 200,
      headers: { "Content-Type": "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetch);
  return calls;
}
