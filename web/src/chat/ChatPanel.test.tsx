import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ChatResponse } from "../api/client";
import { mockFetch } from "../test/fetch";
import { ChatPanel } from "./ChatPanel";

afterEach(() => vi.unstubAllGlobals());

const reply = (over: Partial<ChatResponse>): ChatResponse => ({
  session_id: "s1",
  masked_message: "hello",
  intent: "card_arrival",
  topic: "credit_reporting",
  confidence: 0.9,
  answer: null,
  sources: [],
  handoff: false,
  handoff_reason: null,
  kb_version: "kb1",
  model_version: "1",
  ...over,
});

const citation = {
  id: "ask_cfpb:1",
  title: "How do I get a free credit report?",
  url: "https://www.consumerfinance.gov/ask-cfpb/1/",
  snippet: "Visit AnnualCreditReport.com.",
  score: 0.8,
  source: "ask_cfpb",
  date: "2017-05",
  licence: "Public domain",
};

async function ask(text: string) {
  await userEvent.type(screen.getByLabelText("Your message"), `${text}{Enter}`);
}

describe("ChatPanel", () => {
  it("shows the answer, its topic and its sources, and echoes the message masked", async () => {
    const calls = mockFetch({
      "/api/chat": {
        body: reply({ masked_message: "I'm <PERSON>, free report?", answer: "Visit the site.", sources: [citation] }),
      },
    });
    render(<ChatPanel />);
    await ask("I'm Ada Lovelace, free report?");
    expect(await screen.findByTestId("answer")).toHaveTextContent("Visit the site.");
    expect(screen.getByLabelText("Topic: Credit reporting")).toBeInTheDocument();
    expect(screen.getByText("Sources (1)")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: citation.title })).toHaveAttribute("href", citation.url);
    const log = screen.getByRole("log");
    expect(log).toHaveTextContent("<PERSON>");
    expect(log).not.toHaveTextContent("Ada Lovelace");
    await ask("And by mail?");
    expect(calls[1]!.body).toEqual({ message: "And by mail?", session_id: "s1" }); // the session carries on
  });

  it("explains a hand-off in plain words", async () => {
    mockFetch({ "/api/chat": { body: reply({ handoff: true, handoff_reason: "handoff_topic", topic: "security_fraud" }) } });
    render(<ChatPanel />);
    await ask("Someone stole my card");
    expect(await screen.findByTestId("handoff")).toHaveTextContent("a specialist will take it from here");
    expect(screen.getByText("Passed to a person")).toBeInTheDocument();
  });

  it("shows an error and gives the message back when the API fails", async () => {
    mockFetch({ "/api/chat": { status: 500, body: { detail: "classifier unavailable" } } });
    render(<ChatPanel />);
    await ask("Is anyone there?");
    expect(await screen.findByRole("alert")).toHaveTextContent("classifier unavailable");
    expect(screen.getByLabelText("Your message")).toHaveValue("Is anyone there?");
    expect(screen.getByRole("log")).not.toHaveTextContent("Is anyone there?");
  });

  it("does not send a blank message", async () => {
    const calls = mockFetch({ "/api/chat": { body: reply({}) } });
    render(<ChatPanel />);
    await ask("   ");
    expect(calls).toHaveLength(0);
    expect(screen.getByRole("button", { name: "Send" })).toBeDisabled();
  });
});
