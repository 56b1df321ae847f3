/**
 * Debian's Chromium for the browser tests, driven by playwright-core (no browser download): CHROMIUM_PATH,
 * default /usr/bin/chromium (`apt-get install -y chromium`).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { expect } from "vitest";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  expect(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`).toBe(true);
  return chromium.launch({
    executablePath: CHROMIUM,
    // The machine has no network: these keep Chromium from trying to reach Google's services.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
