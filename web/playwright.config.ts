import { defineConfig } from "@playwright/test";

// The harness (tests/web/test_e2e.py) starts the real `teller serve` and passes its URL and agent token.
export default defineConfig({
  testDir: "e2e",
  workers: 1,
  timeout: 90_000,
  expect: { timeout: 30_000 },
  reporter: [["list"]],
  // traces and failure screenshots go under the repository's var/ (cleaned by `make clean`), not into web/
  outputDir: process.env.PLAYWRIGHT_OUTPUT_DIR ?? "../var/test-results",
  use: {
    baseURL: process.env.TELLER_URL ?? "http://127.0.0.1:8000",
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
});
