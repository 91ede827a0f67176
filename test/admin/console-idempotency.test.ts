// The console's create form and Idempotency-Key (docs/console.md), in a real
// Chromium against a real server: the form sends one key per creation the
// user means, so a submission sent again (a double click, a retry after the
// answer was lost) makes one token; the replay, which holds no secret, is
// said for what it is, with revoking the token offered; a key the form used
// for other values, and a store without idempotent creation, still let the
// user create. Needs Chromium: see console-chromium.test.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { haveChromium, launchChromium } from "../support/chromium.js";
import { type AdminServer, startAdminServer } from "./server.js";

/** The Idempotency-Key of each POST /tokens the server saw (null: none). */
const keys: (string | null)[] = [];
/** A whole token (a row shows its start only). */
const TOKEN = /acme_[ps]k_live_[0-9A-Za-z]{49}/;

async function serve(options: Parameters<typeof startAdminServer>[0] = {}): Promise<AdminServer> {
  return startAdminServer({
    ...options,
    authorize: (request) => {
      if (request.method === "POST" && new URL(request.url).pathname.endsWith("/tokens")) keys.push(request.headers.get("idempotency-key"));
      return { owner: "acct_idem", actor: "user:1" };
    },
  });
}

describe.skipIf(!haveChromium)("the console's create form and Idempotency-Key", () => {
  let srv: AdminServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const errors: string[] = [];
  const dialog = () => page.locator("keyward-tokens dialog[open]");
  const names = async () => (await srv.kw.tokens.list("acct_idem")).items.map((t) => t.name);

  beforeAll(async () => {
    srv = await serve();
    profile = await mkdtemp(join(tmpdir(), "keyward-console-"));
    context = await launchChromium(profile);
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => errors.push(String(err)));
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await srv?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  afterEach(async () => {
    await page.unrouteAll();
    keys.length = 0;
  });

  /** The first create reaches the server, which makes the token; its answer never reaches the page (a dropped connection). */
  async function loseFirstAnswer(): Promise<void> {
    let lost = 0;
    await page.route(`${srv.url}/tokens`, async (route) => {
      if (route.request().method() !== "POST" || lost++ > 0) return route.continue();
      await route.fetch();
      await route.abort("connectionreset");
    });
  }

  async function openForm(name: string): Promise<void> {
    await page.goto(`${srv.url}/`);
    await page.getByRole("button", { name: "Create a token" }).click();
    await dialog().getByLabel("Name").fill(name);
  }

  it("the answer lost, a double click again makes no second token: the replay says the token was made by the earlier submission, shows no secret, and offers to revoke it", async () => {
    await openForm("lost answer");
    await loseFirstAnswer();
    await dialog().getByRole("button", { name: "Create token" }).dblclick();
    await dialog().getByText("The server could not be reached").waitFor();
    expect(await names()).toEqual(["lost answer"]);
    await dialog().getByRole("button", { name: "Create token" }).dblclick();
    const replay = dialog().filter({ hasText: "already created" });
    await replay.waitFor();
    const [made] = (await srv.kw.tokens.list("acct_idem")).items;
    expect(await names()).toEqual(["lost answer"]);
    expect(await replay.textContent()).toMatch(/earlier submission.*shown then.*cannot be shown again/s);
    expect(await replay.locator("code.secret").count()).toBe(0);
    expect(await page.locator("keyward-tokens").evaluate((el) => el.shadowRoot!.textContent)).not.toMatch(TOKEN);
    // One key for the one creation meant, sent with each submission of it.
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^"[A-Za-z0-9_-]{22,}"$/);
    expect(keys[1]).toBe(keys[0]);
    await replay.getByRole("button", { name: "Revoke" }).click();
    await replay.waitFor({ state: "detached" });
    expect((await srv.kw.tokens.get(made!.id))?.revokedAt).not.toBeNull();
    await expect.poll(() => page.locator("keyward-tokens tbody tr").filter({ hasText: "lost answer" }).locator("td.state").textContent()).toBe("Revoked");
    // The next creation is another one: a new key, a new token, its secret shown.
    await page.getByRole("button", { name: "Create a token" }).click();
    await dialog().getByLabel("Name").fill("next");
    await dialog().getByRole("button", { name: "Create token" }).click();
    await dialog().filter({ hasText: "Your new token" }).waitFor();
    expect(keys).toHaveLength(3);
    expect(keys[2]).not.toBe(keys[0]);
    await dialog().getByRole("button", { name: "Done" }).click();
  });

  it("the answer lost, the form changed before it is sent again: the token made is listed, the page says its secret is lost, and the next submission creates the one asked for", async () => {
    await openForm("first values");
    await loseFirstAnswer();
    await dialog().getByRole("button", { name: "Create token" }).click();
    await dialog().getByText("The server could not be reached").waitFor();
    await dialog().getByLabel("Name").fill("second values");
    await dialog().getByRole("button", { name: "Create token" }).click();
    await dialog().getByText(/earlier submission of this form created a token/).waitFor();
    await page.locator("keyward-tokens tbody tr").filter({ hasText: "first values" }).waitFor();
    expect((await names()).filter((n) => n.endsWith("values"))).toEqual(["first values"]);
    await dialog().getByRole("button", { name: "Create token" }).click();
    await dialog().filter({ hasText: "Your new token" }).waitFor();
    expect((await names()).filter((n) => n.endsWith("values"))).toEqual(["first values", "second values"]);
    expect(keys[2]).not.toBe(keys[1]);
    await dialog().getByRole("button", { name: "Done" }).click();
  });

  it("a developer (who may not revoke) is told the same, and whom to ask to revoke the token: no Revoke button", async () => {
    await srv.kw.accounts.members.set("acct_idem", "user:0", "owner");
    await srv.kw.accounts.members.set("acct_idem", "user:1", "developer");
    await openForm("developer's");
    await loseFirstAnswer();
    await dialog().getByRole("button", { name: "Create token" }).click();
    await dialog().getByText("The server could not be reached").waitFor();
    await dialog().getByRole("button", { name: "Create token" }).click();
    const replay = dialog().filter({ hasText: "already created" });
    await replay.waitFor();
    expect(await replay.textContent()).toContain("have an owner or admin revoke this token");
    expect(await replay.getByRole("button").allTextContents()).toEqual(["Close"]);
    await replay.getByRole("button", { name: "Close" }).click();
    expect((await names()).filter((n) => n === "developer's")).toHaveLength(1);
  });

  it("logged no page errors", () => {
    expect(errors).toEqual([]);
  });
});

describe.skipIf(!haveChromium)("the console on a store without idempotent creation (501 STORE_UNSUPPORTED to a keyed create)", () => {
  let srv: AdminServer;
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    const memory = new MemoryStore();
    // A store written before insertOnce: the same MemoryStore, without the capability.
    const store = new Proxy(memory, {
      get: (target, key) => {
        if (key === "capabilities") return { ...target.capabilities, idempotentCreate: false };
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    // The 501 is the point: reported to onError, not to the console.
    srv = await serve({ keyward: { store }, onError: () => {} });
    profile = await mkdtemp(join(tmpdir(), "keyward-console-"));
    context = await launchChromium(profile);
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await srv?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it("creates tokens all the same: the key is dropped after the first 501, which made nothing", async () => {
    keys.length = 0;
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${srv.url}/`);
    const dialog = page.locator("keyward-tokens dialog[open]");
    for (const name of ["one", "two"]) {
      await page.getByRole("button", { name: "Create a token" }).click();
      await dialog.getByLabel("Name").fill(name);
      await dialog.getByRole("button", { name: "Create token" }).click();
      await dialog.filter({ hasText: "Your new token" }).locator("code.secret").waitFor();
      expect(await dialog.locator("code.secret").textContent()).toMatch(TOKEN);
      await dialog.getByRole("button", { name: "Done" }).click();
    }
    expect((await srv.kw.tokens.list("acct_idem")).items.map((t) => t.name)).toEqual(["one", "two"]);
    expect(keys).toEqual([expect.stringMatching(/^"/), null, null]);
  });
});
