import type { HandoffReason } from "../api/client";

/** What the visitor reads when a person takes over, per hand-off reason. */
export const HANDOFF_MESSAGES: Record<HandoffReason, string> = {
  asked_for_human: "Of course. I'm connecting you with a member of our customer service team now.",
  out_of_scope: "That's outside what I can help with here, so I'm passing you to a member of our team.",
  handoff_topic: "For your security, a specialist will take it from here. Please don't share card numbers in chat.",
  low_confidence: "I'm not sure I understood, so I'm passing you to a colleague who can help.",
  no_relevant_answer: "I couldn't find a reliable answer, so I'm passing you to a colleague who can help.",
};
