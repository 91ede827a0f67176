// What the console sends to the admin API, watched in a real Chromium against
// a real server on SQLite: an edit sends the fields the user changed and no
// other (what the form shows only in part stays as stored), completed from
// the policy in force when it takes effect (a change scheduled for later is
// never brought forward), and with the synchronizer CSRF token of
// docs/console.md every change carries it.
//
// The browser runs in Europe/Berlin, so an expiry can fall in the hour that
// the autumn clock change repeats. Needs Chromium: see console-chromium.test.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, launchChromium } from "../support/chromium.js";
import { type AdminServer, startAdminServer } from "./server.js";

const OWNER = "acct_1";
/** Session cookie → who, and the session's CSRF token. */
const SESSIONS = new Map([
  ["s-owner", { actor: "user:owner", csrf: "csrf-owner-1" }],
  ["s-dev", { actor: "user:dev", csrf: "csrf-dev-1" }],
]);

/** 01:30:45.678 UTC on the last Sunday of next October: 02:30:45 in Berlin, for the second time that night (CET). */
function repeatedBerlinHour(): number {
  const day = new Date(Date.UTC(new Date().getUTCFullYear() + 1, 9, 31));
  day.setUTCDate(31 - day.getUTCDay());
  return day.getTime() + 5_445_678;
}

describe.skipIf(!haveChromium)("what the console sends to the admin API", () => {
  let srv: AdminServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  /** Every state change the server saw: method, path, and whether it carried the session's CSRF token. */
  const changes: string[] = [];
  /** The browser's headers of each such change: Sec-Fetch-Site, Origin, Referer. */
  const heads: (string | null)[][] = [];

  beforeAll(async () => {
    srv = await startAdminServer({
      // docs/console.md, "Session cookies": a synchronizer token on every request but GET.
      authorize: (request) => {
        const session = SESSIONS.get(/(?:^|;\s*)session=([^;]+)/.exec(request.headers.get("cookie") ?? "")?.[1] ?? "");
        if (!session) return null;
        if (request.method !== "GET") {
          heads.push(["sec-fetch-site", "origin", "referer"].map((name) => request.headers.get(name)));
          const ok = request.headers.get("x-csrf-token") === session.csrf;
          changes.push(`${request.method} ${new URL(request.url).pathname.replace(/tok_\w+/, ":id")}${ok ? "" : " without the CSRF token"}`);
          if (!ok) return false;
        }
        return { owner: OWNER, actor: session.actor };
      },
    });
    await srv.kw.accounts.members.set(OWNER, "user:owner", "owner");
    await srv.kw.accounts.members.set(OWNER, "user:dev", "developer");
    profile = await mkdtemp(join(tmpdir(), "keyward-console-"));
    context = await launchChromium(profile, { timezoneId: "Europe/Berlin" });
    page = context.pages()[0] ?? (await context.newPage());
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await srv?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  /** The console as `session` sees it; the host page gives the element the session's CSRF token. */
  async function open(session: string): Promise<void> {
    await context.addCookies([{ name: "session", value: session, url: srv.origin }]);
    await page.goto(`${srv.url}/`);
    await page.locator("keyward-tokens tbody tr").first().waitFor({ timeout: 15_000 });
    await page.locator("keyward-tokens").evaluate((el, csrf) => el.setAttribute("csrf-token", csrf), SESSIONS.get(session)!.csrf);
  }

  /** Opens the Edit form of token `name`, lets `change` fill it in and saves: the patch sent, and the answer's status. */
  async function edit(name: string, change: (form: Locator) => Promise<void>): Promise<{ patch: unknown; status: number | undefined }> {
    await page.getByRole("button", { name: `Edit ${name}`, exact: true }).click();
    const form = page.locator("keyward-tokens dialog[open]");
    await change(form);
    const [request] = await Promise.all([page.waitForRequest((r) => r.method() === "PATCH"), form.getByRole("button", { name: "Save changes" }).click()]);
    const status = (await request.response())?.status();
    if (status === 200) await form.waitFor({ state: "detached" });
    return { patch: request.postDataJSON().patch, status };
  }

  const rename = (to: string) => (form: Locator) => form.getByLabel("Name").fill(to);
  const lastChange = async (id: string) => (await srv.kw.tokens.audit({ tokenId: id })).items.at(-1)!.changes;

  it("a rename sends the name alone: a credit limit's calendar reset stays", async () => {
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "daily", credits: { limit: 1000, reset: "day" } });
    await open("s-owner");
    expect(await edit("daily", rename("daily 2"))).toEqual({ patch: { name: "daily 2" }, status: 200 });
    const after = await srv.kw.tokens.get(record.id);
    expect(after).toMatchObject({ name: "daily 2", scheduled: [] });
    expect(after!.policy.credits).toEqual(record.policy.credits);
    expect(await lastChange(record.id)).toEqual(["name"]);
  });

  it("a developer (who may not change limits) renames a token that has a credit limit", async () => {
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "publishable", name: "monthly", credits: { limit: 50, reset: "month" } });
    await open("s-dev");
    await page.getByText("Signed in as user:dev (developer)").waitFor();
    expect(await edit("monthly", rename("monthly 2"))).toEqual({ patch: { name: "monthly 2" }, status: 200 });
    expect(await srv.kw.tokens.get(record.id)).toMatchObject({ name: "monthly 2", policy: { credits: { limit: 50, reset: "month" } } });
  });

  it("a developer is offered Regenerate on publishable tokens only (a secret one needs tokens.create.secret)", async () => {
    await srv.kw.tokens.create({ owner: OWNER, kind: "publishable", name: "web key" });
    await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "server key" });
    await open("s-dev");
    await page.getByText("Signed in as user:dev (developer)").waitFor();
    expect(await page.getByRole("button", { name: "Regenerate web key", exact: true }).count()).toBe(1);
    expect(await page.getByRole("button", { name: "Regenerate server key", exact: true }).count()).toBe(0);
    await open("s-owner");
    expect(await page.getByRole("button", { name: "Regenerate server key", exact: true }).count()).toBe(1);
  });

  it("a new credit limit keeps the limit's calendar reset and its refill", async () => {
    const reset = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "capped", credits: { limit: 1000, reset: "day" } });
    const refill = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "refilled", credits: { limit: 100, refill: { amount: 10, intervalMs: 60_000 } } });
    await open("s-owner");
    const fill = (n: string) => (form: Locator) => form.getByLabel("Credit limit").fill(n);
    expect(await edit("capped", fill("500"))).toEqual({ patch: { credits: { limit: 500, refill: null, reset: "day" } }, status: 200 });
    expect((await srv.kw.tokens.get(reset.record.id))!.policy.credits).toEqual({ limit: 500, refill: null, reset: "day" });
    expect(await edit("refilled", fill("200"))).toMatchObject({ patch: { credits: { limit: 200, refill: { amount: 10, intervalMs: 60_000 } } }, status: 200 });
    expect((await srv.kw.tokens.get(refill.record.id))!.policy.credits).toMatchObject({ limit: 200, refill: { amount: 10, intervalMs: 60_000 } });
  });

  it("a rename leaves the scopes alone: one the form has no switch for (the operator's), and their order", async () => {
    const scopes = ["premium:read", "internal:admin", "core:read"];
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "operated", scopes });
    await open("s-owner");
    expect(await edit("operated", rename("operated 2"))).toEqual({ patch: { name: "operated 2" }, status: 200 });
    expect(await srv.kw.tokens.get(record.id)).toMatchObject({ name: "operated 2", policy: { scopes } });
    expect(await lastChange(record.id)).toEqual(["name"]);
  });

  it("a rename leaves an expiry alone that the form cannot show exactly (milliseconds, the hour the clock change repeats)", async () => {
    const expiresAt = repeatedBerlinHour();
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "publishable", name: "expiring", expiresAt });
    await open("s-owner");
    expect(await edit("expiring", rename("expiring 2"))).toEqual({ patch: { name: "expiring 2" }, status: 200 });
    expect(await srv.kw.tokens.get(record.id)).toMatchObject({ name: "expiring 2", policy: { expiresAt } });
    expect(await lastChange(record.id)).toEqual(["name"]);
  });

  /** `ms` as the browser's datetime-local value (the "Takes effect at" field). */
  const localInput = (ms: number) =>
    page.evaluate((at) => new Date(at - new Date(at).getTimezoneOffset() * 60_000).toISOString().slice(0, 19), ms);

  it("a new credit limit saved for now keeps the refill and reset in force now: a refill scheduled for later is not brought forward, and the form says the edit replaces it", async () => {
    const later = Date.now() + 3_600_000;
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "refill later", credits: { limit: 100, reset: "day" } });
    const scheduled = { limit: 200, refill: { amount: 10, intervalMs: 60_000 } };
    await srv.kw.tokens.update(record.id, { credits: scheduled }, { effectiveAt: later });
    await open("s-owner");
    const sent = await edit("refill later", async (form) => {
      // The form shows the limit in force now, and the scheduled one with its time.
      expect(await form.getByLabel("Credit limit").inputValue()).toBe("100");
      await form.getByText(/^Scheduled from .+: 200, refilled by 10 every 60 s\. A change here replaces it\.$/).waitFor();
      await form.getByLabel("Credit limit").fill("50");
    });
    expect(sent).toEqual({ patch: { credits: { limit: 50, refill: null, reset: "day" } }, status: 200 });
    const after = (await srv.kw.tokens.get(record.id))!;
    expect(after.policy.credits).toEqual({ limit: 50, refill: null, reset: "day" });
    // What the admin set holds from now on: the scheduled credit change is replaced, as the form said.
    expect(after.scheduled).toEqual([{ effectiveAt: later, policy: expect.objectContaining({ credits: { limit: 50, refill: null, reset: "day" } }) }]);
    expect(await page.locator("keyward-tokens").getByRole("status").textContent()).toBe("Saved.");
  });

  it("a scope switch turned on for now keeps the other scopes in force now: a scope scheduled for later is not granted early", async () => {
    const later = Date.now() + 3_600_000;
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "scoped later", scopes: ["core:read", "internal:admin"] });
    await srv.kw.tokens.update(record.id, { scopes: ["core:read", "internal:admin", "premium:read"] }, { effectiveAt: later });
    await open("s-owner");
    const sent = await edit("scoped later", async (form) => {
      expect(await form.getByRole("switch", { name: "Premium data (read)" }).isChecked()).toBe(false);
      await form.getByText(/^Scheduled from .+: core:read, internal:admin, premium:read\. A change here replaces it\.$/).waitFor();
      await form.getByRole("group", { name: "Dataset news" }).getByRole("switch", { name: "read" }).check();
    });
    // The operator's scope (no switch) stays where it is, in its place.
    expect(sent).toEqual({ patch: { scopes: ["core:read", "internal:admin", "datasets/news:read"] }, status: 200 });
    const after = (await srv.kw.tokens.get(record.id))!;
    expect(after.policy.scopes).toEqual(["core:read", "internal:admin", "datasets/news:read"]);
    expect(after.scheduled.map((s) => s.policy.scopes)).toEqual([["core:read", "internal:admin", "datasets/news:read"]]);
  });

  it("an edit that takes effect later starts from the token as it will be then: a new limit keeps the refill scheduled before it, and brings none scheduled after it forward", async () => {
    const soon = Date.now() + 3_600_000;
    const later = Math.ceil((soon + 3_600_000) / 1000) * 1000;
    const last = later + 3_600_000;
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "stepped", credits: { limit: 100, reset: "day" }, ips: ["192.0.2.1"] });
    await srv.kw.tokens.update(record.id, { credits: { limit: 200, refill: { amount: 10, intervalMs: 60_000 } }, ips: ["192.0.2.2"] }, { effectiveAt: soon });
    await srv.kw.tokens.update(record.id, { credits: { limit: 400, refill: { amount: 20, intervalMs: 60_000 } } }, { effectiveAt: last });
    await open("s-owner");
    const at = await localInput(later);
    const sent = await edit("stepped", async (form) => {
      await form.getByLabel("IP ranges").fill("198.51.100.0/24");
      await form.getByLabel("Takes effect at").fill(at);
      // Untouched fields now show the token at that time, with what is scheduled after it; the one typed in keeps what was typed.
      await expect.poll(() => form.getByLabel("Credit limit").inputValue()).toBe("200");
      expect(await form.getByLabel("IP ranges").inputValue()).toBe("198.51.100.0/24");
      await form.getByText(/^Scheduled from .+: 400, refilled by 20 every 60 s\. A change here replaces it\.$/).waitFor();
      expect(await form.getByText(/Scheduled from/).count()).toBe(1);
      await form.getByLabel("Credit limit").fill("300");
    });
    const credits = { limit: 300, refill: { amount: 10, intervalMs: 60_000 } };
    expect(sent).toEqual({ patch: { ips: ["198.51.100.0/24"], credits }, status: 200 });
    const after = (await srv.kw.tokens.get(record.id))!;
    expect(after.policy).toMatchObject({ credits: { limit: 100, refill: null, reset: "day" }, ips: ["192.0.2.1"] });
    expect(after.scheduled.map((s) => [s.effectiveAt, s.policy.credits, s.policy.ips])).toEqual([
      [soon, { limit: 200, refill: { amount: 10, intervalMs: 60_000 } }, ["192.0.2.2"]],
      [later, credits, ["198.51.100.0/24"]],
      [last, credits, ["198.51.100.0/24"]],
    ]);
  });

  it("a public key that is not valid JSON though it starts like a JWK is sent as typed: the server's refusal is shown in the form", async () => {
    await open("s-owner");
    const errors: string[] = [];
    const onError = (err: Error) => errors.push(String(err));
    page.on("pageerror", onError);
    try {
      await page.getByRole("button", { name: "Create a token" }).click();
      const form = page.locator("keyward-tokens dialog[open]");
      await form.getByLabel("Name").fill("uploaded key");
      await form.getByLabel("Kind").selectOption("secret");
      await form.getByLabel("Signing key").selectOption("upload");
      await form.getByLabel("Public key").fill('{"kty": "OKP", "crv": "Ed25519",');
      await form.getByRole("button", { name: "Create token" }).click();
      await expect.poll(() => form.locator("p.error").textContent()).toMatch(/must be an Ed25519 public key.*\(signing\.publicKey\)$/);
      expect(errors).toEqual([]);
      await form.getByRole("button", { name: "Cancel" }).click();
    } finally {
      page.off("pageerror", onError);
    }
    expect((await srv.kw.tokens.list(OWNER)).items.map((t) => t.name)).not.toContain("uploaded key");
  });

  it("in a browser whose clock is ahead of the server's, a change the server still shows pending is asked about again after longer and longer waits, not four times a second", async () => {
    const ids: string[] = [];
    for (const name of ["ahead 1", "ahead 2", "ahead 3"]) {
      const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "publishable", name });
      await srv.kw.tokens.update(record.id, { domains: ["example.com"] }, { effectiveAt: Date.now() + 10 * 60_000 });
      ids.push(record.id);
    }
    await context.addCookies([{ name: "session", value: "s-owner", url: srv.origin }]);
    const ahead = await context.newPage();
    try {
      // 20 minutes ahead: each change is due by the browser's clock, and pending on the server's for 10 more minutes.
      await ahead.clock.install({ time: Date.now() + 20 * 60_000 });
      await ahead.clock.resume();
      let rereads = 0;
      ahead.on("request", (r) => {
        if (ids.some((id) => new URL(r.url()).pathname.endsWith(`/tokens/${id}`))) rereads++;
      });
      await ahead.goto(`${srv.url}/`);
      await ahead.locator("keyward-tokens tbody tr").filter({ hasText: "ahead 3" }).waitFor({ timeout: 15_000 });
      await ahead.waitForTimeout(4000);
      // After 1 s, then 2 s more (then 4, 8… up to a minute): twice each in 4 s, where every 250 ms made it about 15 times.
      expect(rereads).toBeGreaterThan(0);
      expect(rereads).toBeLessThanOrEqual(3 * ids.length);
    } finally {
      await ahead.close();
    }
  });

  it("a change that takes effect while the network fails is shown in force once a later read succeeds", async () => {
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "publishable", name: "offline" });
    // Far enough ahead that the page shows it pending first, on a loaded machine too (2 s was not, once).
    await srv.kw.tokens.update(record.id, { domains: ["offline.example"] }, { effectiveAt: Date.now() + 5000 });
    await context.addCookies([{ name: "session", value: "s-owner", url: srv.origin }]);
    const flaky = await context.newPage();
    try {
      let failed = 0;
      // The first read of the token when its change takes effect fails, as a dropped connection does.
      await flaky.route(`${srv.url}/tokens/${record.id}`, (route) => (failed++ === 0 ? route.abort("connectionreset") : route.continue()));
      await flaky.goto(`${srv.url}/`);
      const row = flaky.locator("keyward-tokens tbody tr").filter({ hasText: "offline" });
      await row.getByText("Change pending").waitFor({ timeout: 15_000 });
      await expect.poll(() => row.textContent(), { timeout: 12_000 }).toContain("Domains: offline.example");
      expect(await row.getByText("Change pending").count()).toBe(0);
      expect(failed).toBeGreaterThanOrEqual(2);
    } finally {
      await flaky.close();
    }
  });

  it("behind a proxy that strips Sec-Fetch-Site, a change names its page's origin (sent under the page's no-referrer policy too) and is served", async () => {
    const { record } = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "stripped" });
    // A real proxy in front of the server, which forwards every request (its Host kept) without Sec-Fetch-Site.
    const proxy = createServer((req, res) => {
      const { "sec-fetch-site": _, ...headers } = req.headers;
      const upstream = request(`${srv.origin}${req.url}`, { method: req.method, headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      await context.addCookies([{ name: "session", value: "s-owner", url: origin }]);
      await page.goto(`${origin}/account/tokens/`);
      await page.locator("keyward-tokens tbody tr").first().waitFor({ timeout: 15_000 });
      await page.locator("keyward-tokens").evaluate((el, csrf) => el.setAttribute("csrf-token", csrf), SESSIONS.get("s-owner")!.csrf);
      heads.length = 0;
      expect(await edit("stripped", rename("stripped 2"))).toEqual({ patch: { name: "stripped 2" }, status: 200 });
      // The element's own referrer policy (same-origin) for its requests: under the page's no-referrer, a browser that
      // follows Fetch §3.1 to the letter (WebKit) would send `Origin: null`, refused without Sec-Fetch-Site.
      expect(heads).toEqual([[null, origin, `${origin}/account/tokens/`]]);
      expect(await srv.kw.tokens.get(record.id)).toMatchObject({ name: "stripped 2" });
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("with a CSRF token, every change the console makes carries it: create, edit, disable, enable, regenerate, revoke, delete", async () => {
    await open("s-owner");
    changes.length = 0;
    const dialog = page.locator("keyward-tokens dialog[open]");
    const row = page.locator("keyward-tokens tbody tr").filter({ hasText: "guarded" });
    const state = () => row.locator("td.state").textContent();
    await page.getByRole("button", { name: "Create a token" }).click();
    await dialog.getByLabel("Name").fill("guarded");
    await dialog.getByRole("button", { name: "Create token" }).click();
    await dialog.getByRole("button", { name: "Done" }).click();
    expect(await edit("guarded", (form) => form.getByLabel("IP ranges").fill("203.0.113.0/24"))).toMatchObject({ status: 200 });
    await row.getByRole("button", { name: "Disable guarded" }).click();
    await expect.poll(state).toBe("Disabled");
    await row.getByRole("button", { name: "Enable guarded" }).click();
    await expect.poll(state).toBe("Active");
    await row.getByRole("button", { name: "Regenerate guarded" }).click();
    await dialog.getByRole("button", { name: "Regenerate" }).click();
    await dialog.getByRole("button", { name: "Done" }).click();
    await row.getByRole("button", { name: "Revoke guarded" }).click();
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await expect.poll(state).toBe("Revoked");
    await row.getByRole("button", { name: "Delete guarded" }).click();
    await dialog.getByRole("button", { name: "Delete" }).click();
    await expect.poll(() => changes).toEqual([
      "POST /account/tokens/tokens",
      "PATCH /account/tokens/tokens/:id",
      "POST /account/tokens/tokens/:id/disable",
      "POST /account/tokens/tokens/:id/enable",
      "POST /account/tokens/tokens/:id/regenerate",
      "POST /account/tokens/tokens/:id/revoke",
      "DELETE /account/tokens/tokens/:id",
    ]);
    await expect.poll(() => row.count()).toBe(0);
    expect((await srv.kw.tokens.list(OWNER)).items.map((t) => t.name)).not.toContain("guarded");
  });
});

describe.skipIf(!haveChromium)("the console's headers property (bearer sessions, docs/console.md)", () => {
  let srv: AdminServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let bearer: string;
  /** Each API request the server saw, and whether it carried the bearer session. */
  const seen: string[] = [];

  beforeAll(async () => {
    srv = await startAdminServer();
    bearer = srv.session("acct_bearer");
    await srv.kw.tokens.create({ owner: "acct_bearer", kind: "publishable", name: "by bearer" });
    profile = await mkdtemp(join(tmpdir(), "keyward-console-"));
    context = await launchChromium(profile);
    page = context.pages()[0] ?? (await context.newPage());
    page.on("request", (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith("/account/tokens/") && !path.endsWith("/console.js")) seen.push(`${path} ${r.headers().authorization === `Bearer ${bearer}` ? "bearer" : "none"}`);
    });
    // The application's own page on the same origin, holding the element as docs/console.md shows: no cookie, a bearer session.
    const setHeaders = `document.querySelector("keyward-tokens").headers = { authorization: "Bearer ${bearer}" };`;
    const module = '<script type="module" src="/account/tokens/console.js"></script>';
    const element = '<keyward-tokens api="/account/tokens"></keyward-tokens>';
    const pages: Record<string, string> = {
      "/app/before": `<!doctype html>${element}<script src="/app/headers.js"></script>${module}`,
      "/app/after": `<!doctype html>${module}${element}<script type="module" src="/app/headers.js"></script>`,
    };
    await page.route(`${srv.origin}/app/**`, (route) => {
      const path = new URL(route.request().url()).pathname;
      return path === "/app/headers.js"
        ? route.fulfill({ contentType: "text/javascript", body: setHeaders })
        : route.fulfill({ contentType: "text/html", body: pages[path] ?? "" });
    });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await srv?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it.each([
    ["before the module defines the element", "/app/before", ["/account/tokens/config bearer", "/account/tokens/tokens bearer"]],
    // The first load, made before the headers were set, was refused: setting them loads again, and its 401 is not shown.
    ["after the element is in the page", "/app/after", ["/account/tokens/config none", "/account/tokens/config bearer", "/account/tokens/tokens bearer"]],
  ])("headers set %s: the console loads the tokens with them", async (_, path, requests) => {
    seen.length = 0;
    await page.goto(srv.origin + path);
    await page.locator("keyward-tokens tbody tr").filter({ hasText: "by bearer" }).waitFor({ timeout: 15_000 });
    expect(await page.locator("keyward-tokens p.error").first().textContent()).toBe("");
    expect(seen).toEqual(requests);
  });

  it("the same headers set again (a framework setting the property at each render) load nothing again", async () => {
    await page.goto(`${srv.origin}/app/after`);
    await page.locator("keyward-tokens tbody tr").filter({ hasText: "by bearer" }).waitFor({ timeout: 15_000 });
    seen.length = 0;
    await page.locator("keyward-tokens").evaluate((el, auth) => {
      (el as HTMLElement & { headers: Record<string, string> }).headers = { authorization: auth };
    }, `Bearer ${bearer}`);
    await page.waitForTimeout(500);
    expect(seen).toEqual([]);
  });
});

describe.skipIf(!haveChromium)("the console when authorize answers a redirect to a sign-in page (docs/console.md: the session ended)", () => {
  let srv: AdminServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    // The sign-in page stands in as the console page: an HTML page, answered 200.
    srv = await startAdminServer({
      authorize: (request) =>
        /(?:^|;\s*)session=live(?:;|$)/.test(request.headers.get("cookie") ?? "") ? "acct_redirect" : Response.redirect(new URL("/account/tokens/", request.url), 302),
    });
    await srv.kw.tokens.create({ owner: "acct_redirect", kind: "publishable", name: "leaked" });
    profile = await mkdtemp(join(tmpdir(), "keyward-console-"));
    context = await launchChromium(profile);
    page = context.pages()[0] ?? (await context.newPage());
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await srv?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it("a revoke after the session ended is not reported as done: the dialog says what happened, and the page keeps working", async () => {
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(String(err)));
    await context.addCookies([{ name: "session", value: "live", url: srv.origin }]);
    await page.goto(`${srv.url}/`);
    const row = page.locator("keyward-tokens tbody tr").filter({ hasText: "leaked" });
    await row.waitFor({ timeout: 15_000 });
    await context.clearCookies();
    await row.getByRole("button", { name: "Revoke leaked" }).click();
    const dialog = page.locator("keyward-tokens dialog[open]");
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => dialog.locator("p.error").textContent()).toMatch(/has your session ended\?/);
    expect(await page.locator("keyward-tokens p.status").textContent()).toBe("");
    expect(await row.locator("td.state").textContent()).toBe("Active");
    expect(errors).toEqual([]);
    expect((await srv.kw.tokens.list("acct_redirect")).items[0]!.revokedAt).toBeNull();
  });
});
