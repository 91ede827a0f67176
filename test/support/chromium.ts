// Debian's Chromium for the browser tests (console, keyward/client), driven by playwright-core: where
// it is, and one way to launch it (headless, in a throwaway profile).
import { existsSync } from "node:fs";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env.KEYWARD_CHROMIUM ?? "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);

/** A headless Chromium with its own profile in `profile`; `options` as playwright's (viewport, timezoneId…). */
export async function launchChromium(profile: string, options: Parameters<typeof chromium.launchPersistentContext>[1] = {}): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    // insecure.test is 127.0.0.1 under a name that is not loopback's: a page served from it over plain
    // HTTP is not a secure context (no crypto.subtle), as one on a LAN host.
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP insecure.test 127.0.0.1",
    ],
    timeout: 60_000,
    ...options,
  });
  context.setDefaultTimeout(8000);
  return context;
}
