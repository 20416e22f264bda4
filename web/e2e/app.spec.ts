// End to end against the real backend: chat, hand-off, complaint filing, agent correction, dashboard, labels.
import { expect, type Page, test } from "@playwright/test";
import path from "node:path";

const TOKEN = process.env.TELLER_AGENT_TOKEN ?? "";
const SHOTS = process.env.SCREENSHOT_DIR ?? "../var/screenshots";
const QUESTION = process.env.TELLER_E2E_QUESTION ?? "How do I get a free copy of my credit report?";
const NAME = "Marguerite Okonkwo";

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

async function signIn(page: Page, hash: string) {
  await page.goto(`/#/${hash}`);
  await page.getByLabel("Agent token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("a visitor asks a question by keyboard alone and sees a cited answer", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.press("Tab"); // skip through the navigation to the message box
  await page.getByLabel("Your message").focus();
  await page.keyboard.type(QUESTION);
  await page.keyboard.press("Enter");
  const reply = page.getByRole("article", { name: "Teller's reply" });
  await expect(reply.getByTestId("answer")).not.toBeEmpty();
  await expect(reply.getByText(/^Topic:|Credit/).first()).toBeVisible();
  await reply.getByText(/Sources \(\d\)/).click();
  await expect(reply.getByRole("listitem").first()).toBeVisible();
  await shot(page, "chat");
});

test("a visitor who asks for a person is handed off and sees their name masked", async ({ page }) => {
  await page.goto("/#/chat");
  await page.getByLabel("Your message").fill(`Hi, I'm ${NAME}. I want to speak to a human please`);
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.getByTestId("handoff")).toContainText("connecting you with a member of our customer service team");
  const log = page.getByRole("log", { name: "Conversation" });
  await expect(log).toContainText("<PERSON>");
  await expect(log).not.toContainText(NAME);
});

test("the chat says so when the API is down and keeps the message", async ({ page }) => {
  await page.route("**/api/chat", (route) => route.abort("connectionrefused"));
  await page.goto("/#/chat");
  await page.getByLabel("Your message").fill("Is anyone there?");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.getByRole("alert")).toContainText("can't be reached");
  await expect(page.getByLabel("Your message")).toHaveValue("Is anyone there?");
});

test("a complaint is filed, found in the agent console, explained and corrected", async ({ page }) => {
  await page.goto("/#/complaint");
  await page.getByLabel("Product (optional)").selectOption("Debt collection");
  await page
    .getByLabel("What happened?")
    .fill(
      `My name is ${NAME} and I am 81 years old. A debt collector keeps calling me about a credit card debt I ` +
        "already paid in full, and it was reported to the credit bureaus as unpaid.",
    );
  await page.getByRole("button", { name: "Send complaint" }).click();
  const reference = (await page.getByTestId("complaint-ref").textContent())!.trim();
  expect(reference).toMatch(/^[0-9a-f-]{36}$/);
  await shot(page, "complaint");

  await page.goto("/#/agent");
  await page.getByLabel("Agent token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("not accepted");
  await page.getByLabel("Agent token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: `Open complaint ${reference}` }).click();
  const detail = page.getByRole("region", { name: "Complaint" });
  await expect(detail).toContainText("<PERSON>");
  await expect(detail).not.toContainText(NAME);
  await detail.getByRole("button", { name: "Explain" }).click();
  await expect(detail.getByTestId("explanation").locator("mark").first()).toBeVisible();

  const team = detail.getByLabel("Team");
  const current = await team.inputValue();
  const other = await team.locator("option").evaluateAll(
    (options, keep) => options.map((o) => (o as HTMLOptionElement).value).find((v) => v !== keep)!,
    current,
  );
  await detail.getByLabel("Agent ID").fill("e2e-agent");
  await team.selectOption(other);
  await detail.getByLabel("Vulnerable customer").selectOption("yes");
  await detail.getByRole("button", { name: "Save correction" }).click();
  await expect(detail.getByText("Correction saved.")).toBeVisible();
  await expect(detail.getByTestId("complaint-status")).toHaveText("Corrected");
  await expect(detail.getByTestId("corrections")).toContainText("e2e-agent");
  await page.getByLabel("Status").selectOption("corrected");
  await expect(page.getByRole("button", { name: `Open complaint ${reference}` })).toBeVisible();
  await shot(page, "agent-console");
});

test("the model dashboard shows the serving version, charts and agreement", async ({ page }) => {
  await signIn(page, "dashboard");
  const rollout = page.getByTestId("rollout");
  await expect(rollout).toContainText("champion");
  await expect(rollout).toContainText(process.env.TELLER_MODEL_VERSION ?? "");
  await expect(page.getByRole("region", { name: "Routing confidence" }).locator("svg.recharts-surface")).toBeVisible();
  await expect(page.getByTestId("agreement")).toContainText("reviewed");
  await shot(page, "dashboard");
});

test("the labels page shows a proposed label's charts and the clusters of unsure complaints", async ({ page }) => {
  await signIn(page, "labels");
  const proposal = page.getByRole("article", { name: "Proposed label Identity theft account" });
  await expect(proposal.getByTestId("proposal-counts")).toContainText("texts at score");
  await expect(proposal.locator("svg.recharts-surface").first()).toBeVisible();
  await expect(page.getByTestId("discovery-summary")).toContainText("scored 150 issue texts");
  await expect(page.getByRole("article", { name: "Cluster 0" })).toContainText("complaints");
  await shot(page, "labels");
});

test("the chat works on a phone-sized screen", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto("/");
  await expect(page.getByLabel("Your message")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await shot(page, "chat-mobile");
});
