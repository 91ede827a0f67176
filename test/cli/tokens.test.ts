// The token commands end to end, through the real bin, on a temp SQLite file.
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { Keyward as KeywardClass } from "keyward";
import { SCHEMA_VERSION, sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { ROOT, useCli } from "./helpers.js";
import { Keyward, verifyRequestSignature } from "./verify-helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });

const TOKEN = /acme_(?:sk|pk)_live_[0-9A-Za-z]{49}/;
const DAY = 86_400_000;
const inCI = Boolean(process.env.CI) && process.env.CI !== "false" && process.env.CI !== "0";
const curl = await promisify(execFile)("/bin/sh", ["-c", "command -v curl"]).then(
  () => true,
  () => false,
);

describe("keyward CLI: token lifecycle", () => {
  it("moves a cutover due sooner than the fleet's bound (KEYWARD_REVOCATION_BOUND_MS) to it; a bad bound is a usage error", () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_bound", "--scope", "premium:read", "--json").stdout);
    const before = Date.now();
    const env = { KEYWARD_PREFIX: "acme", KEYWARD_REVOCATION_BOUND_MS: "60000" };
    const r = cli.run(["update", record.id, "--scope", "core:read", "--effective-at", "+1s", "--json"], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).scheduled[0].effectiveAt).toBeGreaterThanOrEqual(before + 60_000);
    for (const bad of ["-1", "10s", "1e3", "86400001"]) {
      const refused = cli.run(["update", record.id, "--name", "x"], { env: { ...env, KEYWARD_REVOCATION_BOUND_MS: bad } });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("KEYWARD_REVOCATION_BOUND_MS");
    }
  });

  it("regenerate keeps the token's own prefix without KEYWARD_PREFIX (the application's verifier accepts the new secret); with it, renames", async () => {
    cli("init");
    const created = JSON.parse(cli("create", "--owner", "acct_prefix", "--json").stdout);
    expect(created.token).toMatch(/^acme_sk_live_/);
    const unset = { env: { KEYWARD_PREFIX: "" } };
    const kept = cli.run(["regenerate", created.record.id], unset);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout.trim()).toMatch(/^acme_sk_live_/);
    const store = sqliteStore(join(cli.dir, "keyward.db"));
    const kw = new KeywardClass({ store, prefix: "acme", usage: { enabled: false } });
    const decided = await kw.verify(new Request("https://api.example.com/", { headers: { authorization: `Bearer ${kept.stdout.trim()}` } }));
    expect(decided.code).toBe("OK");
    // An imported key has no keyward prefix to keep: the CLI asks for one, and changes nothing.
    const imported = await kw.tokens.import({ hash: "a".repeat(64), owner: "acct_prefix", kind: "secret", start: "sk_legacy" });
    await kw.close();
    store.close();
    const refused = cli.run(["regenerate", imported.id], unset);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining("set KEYWARD_PREFIX")]);
    expect(JSON.parse(cli("show", imported.id, "--json").stdout).revision).toBe(imported.revision);
    // KEYWARD_PREFIX names the prefix: a rename, as a Keyward instance of another prefix does.
    expect(cli.run(["regenerate", created.record.id], { env: { KEYWARD_PREFIX: "other" } }).stdout).toMatch(/^other_sk_live_/);
  });

  it("create with named pools, a daily reset and several rate limits; show lists them", () => {
    cli("init");
    const created = cli("create", "--owner", "acct_p", "--credits", "100", "--reset", "day", "--pool", "premium=5/month", "--pool", "batch=50",
      "--rate-limit", "10/1s", "--rate-limit", "1000/1d", "--json");
    expect(created.code, created.stderr).toBe(0);
    const { record } = JSON.parse(created.stdout);
    expect(record.policy).toMatchObject({
      credits: { limit: 100, refill: null, reset: "day" },
      pools: { premium: { limit: 5, refill: null, reset: "month" }, batch: { limit: 50, refill: null } },
      rateLimit: { limit: 10, windowMs: 1000 },
      rateLimits: [{ limit: 1000, windowMs: 86_400_000 }],
    });
    const shown = cli("show", record.id).stdout;
    expect(shown).toContain("credits          100 (full every day, UTC)");
    expect(shown).toContain("pool premium     5 (full every month, UTC)");
    expect(shown).toContain("rate limit       1000 per 1d");
    // `__proto__` is a pool name the library refuses, not a prototype silently set: the pools stay.
    const proto = cli("update", record.id, "--pool", "__proto__=5");
    expect([proto.code, proto.stderr]).toEqual([2, expect.stringMatching(/^keyward update: INVALID_INPUT: .*pools\.__proto__/)]);
    expect(cli("show", record.id).stdout).toBe(shown);
  });

  it("update keeps what is not given: --credits keeps the reset or refill; a list flag replaces the whole list", () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_u", "--credits", "100", "--reset", "month", "--rate-limit", "10/1s", "--rate-limit", "1000/1d", "--json").stdout);
    const policy = (...args: string[]) => {
      const r = cli("update", record.id, ...args, "--json");
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).policy;
    };
    expect(cli("update", record.id, "--credits", "200").stdout).toContain("credits          200 (full every month, UTC)");
    expect(policy("--name", "n").credits).toEqual({ limit: 200, refill: null, reset: "month" });
    // A refill and a calendar reset exclude each other: giving one drops the other; none drops it.
    expect(policy("--refill", "50/1d").credits).toEqual({ limit: 200, refill: { amount: 50, intervalMs: 86_400_000 } });
    // Text shows durations as they are typed (--json keeps the milliseconds); mixed units read largest first.
    const shown = cli("update", record.id, "--refill", "50/5400000", "--rate-limit", "7/90061001").stdout;
    expect(shown).toContain("credits          200 (+50 every 1h 30m)\n");
    expect(shown).toContain("rate limit       7 per 1d 1h 1m 1s 1ms\n");
    expect(policy("--refill", "50/30d").credits.refill).toEqual({ amount: 50, intervalMs: 2_592_000_000 });
    expect(cli("show", record.id).stdout).toContain("credits          200 (+50 every 30d)\n");
    expect(policy("--refill", "50/1d").credits.refill).toEqual({ amount: 50, intervalMs: 86_400_000 });
    expect(policy("--credits", "300").credits).toEqual({ limit: 300, refill: { amount: 50, intervalMs: 86_400_000 } });
    expect(policy("--reset", "day").credits).toEqual({ limit: 300, refill: null, reset: "day" });
    expect(policy("--reset", "none").credits).toEqual({ limit: 300, refill: null });
    // --rate-limit gives every rate limit: one replaces rateLimit and drops rateLimits.
    const limited = policy("--rate-limit", "5/1s");
    expect([limited.rateLimit, limited.rateLimits ?? []]).toEqual([{ limit: 5, windowMs: 1000 }, []]);
    // On an unmetered token, --refill or --reset alone has no allowance to go with.
    const bare = JSON.parse(cli("create", "--owner", "acct_u", "--json").stdout).record;
    const refused = cli("update", bare.id, "--reset", "day");
    expect([refused.code, refused.stderr]).toEqual([2, "keyward update: --reset needs --credits\n"]);
  });

  it("show says what each scheduled change changes, from the policy in force before it", () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_sched", "--scope", "core:read", "--credits", "100", "--pool", "premium=5", "--json").stdout);
    const inOneHour = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_600_000).toISOString();
    const inTwoHours = new Date(Date.parse(inOneHour) + 3_600_000).toISOString();
    for (const args of [["--credits", "5", "--effective-at", inOneHour], ["--pool", "batch=50", "--rate-limit", "10/1s", "--rate-limit", "100/1d", "--effective-at", inTwoHours]]) {
      const r = cli("update", record.id, ...args);
      expect(r.code, r.stderr).toBe(0);
    }
    const scheduled = cli("show", record.id).stdout.split("\n").filter((l) => l.startsWith("scheduled"));
    expect(scheduled).toEqual([
      `scheduled        ${inOneHour}: credits 5`,
      `scheduled        ${inTwoHours}: pool batch 50; rate limit 10 per 1s, 100 per 1d; pool premium none`,
    ]);
    // Nothing but the effective time: nothing changes.
    const same = cli("update", record.id, "--scope", "core:read", "--effective-at", "+3h").stdout;
    expect(same).toMatch(/\nscheduled {8}\S+: no change\n/);
  });

  it("lifecycle reports a token by the expiry a scheduled change sets, naming the change", () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_soon", "--expires-at", "+60d", "--json").stdout);
    expect(cli("lifecycle", "--owner", "acct_soon").stdout).toBe("nothing to report\n");
    const inOneHour = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_600_000).toISOString();
    const inThreeDays = new Date(Date.parse(inOneHour) + 3 * 86_400_000).toISOString();
    const r = cli("update", record.id, "--expires-at", inThreeDays, "--effective-at", inOneHour);
    expect(r.code, r.stderr).toBe(0);
    expect(cli("lifecycle", "--owner", "acct_soon").stdout).toBe(`expiring-soon     ${record.id}  ${inThreeDays}  by the change effective ${inOneHour}\n`);
    expect(JSON.parse(cli("lifecycle", "--owner", "acct_soon", "--json").stdout)).toEqual([
      { type: "expiring-soon", tokenId: record.id, owner: "acct_soon", at: Date.parse(inThreeDays), effectiveAt: Date.parse(inOneHour) },
    ]);
  });

  it("update refuses a credits change that would cancel a scheduled one; at or after it, it merges with it", () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_later", "--credits", "10000", "--json").stdout);
    const inTenMinutes = new Date(Math.ceil(Date.now() / 1000) * 1000 + 600_000).toISOString();
    expect(cli("update", record.id, "--credits", "5", "--effective-at", inTenMinutes).code).toBe(0);
    const scheduled = () => JSON.parse(cli("show", record.id, "--json").stdout).scheduled.map((s: { policy: { credits: unknown } }) => s.policy.credits);
    // --refill (or --reset, or --credits) now would write the allowance in force now over the scheduled limit of 5.
    for (const args of [["--refill", "100/1h"], ["--reset", "day"], ["--credits", "20"], ["--refill", "100/1h", "--effective-at", "+5m"]]) {
      const refused = cli("update", record.id, ...args);
      expect([refused.code, refused.stderr]).toEqual([
        2,
        `keyward update: a change of credits is scheduled at ${inTenMinutes}, which this update would cancel: give --effective-at ${inTenMinutes} or later (show lists the scheduled changes)\n`,
      ]);
    }
    expect(scheduled()).toEqual([{ limit: 5, refill: null }]);
    // Other settings now leave the scheduled limit alone; at its instant, the refill merges with it.
    expect(cli("update", record.id, "--name", "n").code).toBe(0);
    expect(cli("update", record.id, "--refill", "100/1h", "--effective-at", inTenMinutes).code).toBe(0);
    expect(scheduled()).toEqual([{ limit: 5, refill: { amount: 100, intervalMs: 3_600_000 } }]);
    expect(JSON.parse(cli("show", record.id, "--json").stdout).policy.credits).toEqual({ limit: 10000, refill: null });
  });

  it("show and list say whether a token works: active, disabled, expired or revoked", async () => {
    cli("init");
    // A clock two days back creates a token that expired yesterday.
    const store = sqliteStore(join(cli.dir, "keyward.db"));
    const past = new KeywardClass({ store, prefix: "acme", now: () => Date.now() - 2 * DAY });
    const expiresAt = Date.now() - DAY;
    const expired = (await past.tokens.create({ owner: "acct_s", kind: "secret", name: "expired", expiresAt })).record;
    await past.close();
    await store.close();
    const ids = Object.fromEntries(
      ["active", "disabled", "revoked"].map((name) => [name, JSON.parse(cli("create", "--owner", "acct_s", "--name", name, "--json").stdout).record.id]),
    );
    cli("disable", ids.disabled);
    cli("revoke", ids.revoked);
    const status = (id: string) => cli("show", id).stdout.split("\n").find((l) => l.startsWith("status"));
    expect(status(ids.active)).toBe("status           active");
    expect(status(ids.disabled)).toMatch(/^status {11}disabled \d{4}-/);
    expect(status(ids.revoked)).toMatch(/^status {11}revoked \d{4}-/);
    expect(status(expired.id)).toBe(`status           expired ${new Date(expiresAt).toISOString()}`);
    const listed = cli("list", "--owner", "acct_s").stdout.trim().split("\n");
    expect(Object.fromEntries(listed.map((l) => [l.split(/ +/).at(-1), l.split(/ +/).at(-2)]))).toEqual({
      active: "active",
      disabled: "disabled",
      expired: "expired",
      revoked: "revoked",
    });
  });

  it("suspend --reason / --lift: every token of the account denied meanwhile; the reason in the operator's audit output", async () => {
    cli("init");
    const { token } = JSON.parse(cli("create", "--owner", "acct_susp", "--json").stdout);
    expect(cli("suspend", "--owner", "acct_susp").code).toBe(2);
    expect(cli("suspend", "--owner", "acct_susp", "--reason", "x", "--lift").code).toBe(2);
    expect(cli("suspend", "--owner", "acct_susp", "--reason", "").code).toBe(2);
    expect(cli("suspend", "--owner", "acct_susp", "--reason", "invoice 2026-11 unpaid", "--actor", "billing").stdout).toBe("acct_susp: suspended now\n");
    const check = async () => {
      const { store, kw } = await Keyward.open(join(cli.dir, "keyward.db"), "acme");
      const code = (await kw.check({ token })).code;
      await store.close();
      return code;
    };
    expect(await check()).toBe("ACCOUNT_SUSPENDED");
    expect(cli("audit", "--owner", "acct_susp").stdout).toMatch(/account +\* +by billing +suspended reason "invoice 2026-11 unpaid"\n$/);
    expect(cli("suspend", "--owner", "acct_susp", "--lift").stdout).toBe("acct_susp: suspension lifted now\n");
    expect(await check()).toBe("OK");
    expect(cli("suspend", "--owner", "acct_susp", "--reason", "later", "--effective-at", "+1d").stdout).toMatch(/^acct_susp: suspended from \d{4}-/);
    // Not suspended now, suspended from +1d: a lift at +2d is from then, not "now" (the state now already holds it).
    const lifted = cli("suspend", "--owner", "acct_susp", "--lift", "--effective-at", "+2d").stdout;
    expect(lifted).toMatch(/^acct_susp: suspension lifted from \d{4}-/);
    expect(Date.parse(lifted.slice("acct_susp: suspension lifted from ".length).trim()) - Date.now()).toBeGreaterThan(86_400_000 * 1.9);
    expect(JSON.parse(cli("suspend", "--owner", "acct_susp", "--lift", "--json").stdout).policy.suspended).toBeNull();
  });

  it("init, create, list, show, credits, update, regenerate, audit, usage, revoke", async () => {
    const init = cli("init", "--json");
    expect(init.code).toBe(0);
    expect(JSON.parse(init.stdout)).toEqual({ database: "keyward.db", schemaVersion: SCHEMA_VERSION });
    expect(cli("migrate").stdout).toBe(`keyward.db: schema version ${SCHEMA_VERSION}\n`);

    const created = cli("create", "--owner", "acct_1", "--name", "backend", "--scope", "core:read", "--scope", "premium:read", "--credits", "100", "--rate-limit", "10/1s", "--actor", "ops:ann");
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(new RegExp(`^${TOKEN.source}$`));
    expect(created.stderr).toMatch(/only time it is shown/);
    expect(created.stderr).not.toContain(token);

    const listed = JSON.parse(cli("list", "--owner", "acct_1", "--json").stdout);
    expect(listed.items).toHaveLength(1);
    const id: string = listed.items[0].id;
    expect(JSON.stringify(listed)).not.toContain(token);
    expect(cli("list", "--owner", "acct_1").stdout).toMatch(new RegExp(`^${id}  acme_sk_live_.{4}… +secret +active +backend\\n$`));

    // Never used yet: listed as unused since an hour from now, not since a day ago (it was created now).
    expect(JSON.parse(cli("list", "--owner", "acct_1", "--unused-since", "+1h", "--json").stdout).items).toHaveLength(1);
    expect(JSON.parse(cli("list", "--owner", "acct_1", "--unused-since", "1d", "--json").stdout).items).toHaveLength(0);
    expect(JSON.parse(cli("list", "--owner", "acct_1", "--expiring-before", "+30d", "--json").stdout).items).toHaveLength(0);
    expect(cli("list", "--owner", "acct_1", "--unused-since", "soon").code).toBe(2);

    const shown = cli("show", id);
    expect(shown.stdout).toContain("scopes           core:read premium:read");
    expect(shown.stdout).toContain("rate limit       10 per 1s");
    expect(shown.stdout).not.toContain(token);

    // The token really works against the same database, and is metered there.
    const { store, kw } = await Keyward.open(join(cli.dir, "keyward.db"), "acme");
    expect((await kw.check({ token, cost: 30 })).ok).toBe(true);
    await kw.flush();
    await store.close();
    expect(JSON.parse(cli("credits", id, "--json").stdout)).toMatchObject({ tokenId: id, limit: 100, remaining: 70 });
    expect(cli("credits", id).stdout).toBe(`${id}: 70 of 100 credits left\n`);
    // Reading the balance spends nothing.
    expect(JSON.parse(cli("credits", id, "--json").stdout).remaining).toBe(70);
    // Top-up and reset are audited store operations.
    expect(cli("credits", id, "--top-up", "50", "--actor", "ops:ann").stdout).toBe(`${id}: 120 of 100 credits left\n`);
    expect(JSON.parse(cli("credits", id, "--reset", "--json").stdout)).toMatchObject({ remaining: 100, replayed: false });
    expect(cli("credits", id, "--top-up", "5", "--reset").code).toBe(2);
    expect(cli("credits", id, "--top-up", "-5").code).toBe(2);
    // With an idempotency key (a payment's id), run again after an unclear failure: applied once.
    expect(cli("credits", id, "--top-up", "7", "--idempotency-key", "pay_81").stdout).toBe(`${id}: 107 of 100 credits left\n`);
    // Run again: said to be a repeat, so it is not taken for a second top-up.
    expect(cli("credits", id, "--top-up", "7", "--idempotency-key", "pay_81").stdout).toBe(
      `${id}: already applied with this idempotency key: nothing changed\n${id}: 107 of 100 credits left\n`,
    );
    expect(JSON.parse(cli("credits", id, "--top-up", "7", "--idempotency-key", "pay_81", "--json").stdout)).toMatchObject({ remaining: 107, replayed: true });
    expect(cli("credits", id, "--top-up", "70", "--idempotency-key", "pay_81").stderr).toMatch(/INVALID_INPUT: --idempotency-key: was used for another credit operation/);
    expect(cli("credits", id, "--idempotency-key", "pay_81").code).toBe(2);

    const at = new Date(Date.now() + 3_600_000).toISOString();
    const updated = JSON.parse(cli("update", id, "--scope", "core:read", "--effective-at", at, "--json").stdout);
    expect(updated.policy.scopes).toEqual(["core:read", "premium:read"]);
    expect(updated.scheduled).toEqual([{ effectiveAt: Date.parse(at), policy: expect.objectContaining({ scopes: ["core:read"] }) }]);

    const rotated = cli("regenerate", id, "--grace", "1h", "--json");
    const body = JSON.parse(rotated.stdout);
    expect(body.token).toMatch(TOKEN);
    expect(body.token).not.toBe(token);
    expect(body.record.graceUntil).toBeGreaterThan(Date.now() + 3_500_000);

    const audit = cli("audit", "--token", id);
    const lines = audit.stdout.trim().split("\n");
    expect(lines.map((l) => l.split(/ +/)[1])).toEqual(["create", "credits", "credits", "credits", "update", "regenerate"]);
    expect(lines[0]).toContain("by ops:ann");
    expect(lines[1]).toContain("by ops:ann");
    expect(lines[4]).toContain(`effective ${at}`);
    expect(lines[5]).toContain(`old secret until ${new Date(body.record.graceUntil).toISOString()}`);

    const usage = cli("usage", id);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toMatch(/^start \(UTC\) +allowed +denied +credits\n\d{4}-\d\d-\d\d \d\d:00 +1 +0 +30 {2}█{40}\n█ allowed {2}░ denied\n$/);
    expect(JSON.parse(cli("usage", id, "--json", "--granularity", "day", "--from", "7d").stdout)).toEqual([
      expect.objectContaining({ allowed: 1, denied: 0, credits: 30 }),
    ]);
    // A window that ends before the token's first use is empty.
    expect(cli("usage", id, "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z").stdout).toBe("no usage in this period\n");

    // Billing: the account's spend this month, as CSV (default) and JSON.
    const month = new Date().toISOString().slice(0, 7);
    const csv = cli("billing", "--month", month);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toMatch(/^owner,pool,from,to,requests,credits\r\nacct_1,default,\d{4}-\d\d-01T00:00:00\.000Z,\d{4}-\d\d-01T00:00:00\.000Z,1,30\r\n$/);
    expect(JSON.parse(cli("billing", "--month", month, "--owner", "acct_1", "--json").stdout)).toEqual([
      expect.objectContaining({ owner: "acct_1", pool: "default", requests: 1, credits: 30 }),
    ]);
    expect(cli("billing", "--month", "2026-13").code).toBe(2);
    // A duration is counted from the start of its UTC hour: 30 days ago up to the end of this hour.
    const nextHour = (ms: number) => Math.floor(ms / 3_600_000) * 3_600_000 + 3_600_000;
    const before = nextHour(Date.now());
    const recent = cli("billing", "--from", "30d", "--to", "+1h", "--json");
    expect(recent.code, recent.stderr).toBe(0);
    const [row] = JSON.parse(recent.stdout);
    expect(row).toMatchObject({ owner: "acct_1", requests: 1, credits: 30 });
    expect(row.to - row.from).toBe(30 * 86_400_000 + 3_600_000);
    expect([before, nextHour(Date.now())]).toContain(row.to);
    // An ISO-8601 time is taken as given, in its own zone (the machine's has no say): off the hour, it is refused.
    const zoned = cli.run(["billing", "--from", "2026-01-01T01:00:00+01:00", "--to", "2026-01-02T00:00:00Z", "--json"], { env: { TZ: "Asia/Kolkata" } });
    expect([zoned.code, zoned.stderr]).toEqual([0, ""]);
    expect(cli("billing", "--from", "2026-01-01T00:30:00Z", "--to", "2026-01-02T00:00:00Z").stderr).toMatch(/from: must be the start of a UTC hour/);

    // Lifecycle report: a rotation period of 0 days would be refused; 1 ms makes it due at once; unused after a minute is not yet.
    expect(cli("lifecycle", "--owner", "acct_1", "--rotation-period", "1").stdout).toMatch(new RegExp(`^rotation-due +${id}  \\d{4}-`));
    expect(cli("lifecycle", "--owner", "acct_1", "--unused-after", "1m").stdout).toBe("nothing to report\n");
    expect(JSON.parse(cli("lifecycle", "--owner", "acct_1", "--json").stdout)).toEqual([]);
    expect(cli("lifecycle", "--owner", "acct_1", "--unused-after", "soon").code).toBe(2);
    // A maximum lifetime set after the token was written (it never expires): reported with the latest expiry allowed.
    const exceeded = cli("lifecycle", "--owner", "acct_1", "--max-lifetime", "30d", "--json");
    expect(exceeded.code, exceeded.stderr).toBe(0);
    expect(JSON.parse(exceeded.stdout)).toEqual([{ type: "lifetime-exceeded", tokenId: id, owner: "acct_1", at: expect.any(Number) }]);
    expect(cli("lifecycle", "--owner", "acct_1", "--max-lifetime", "30d").stdout).toMatch(new RegExp(`^lifetime-exceeded +${id}  \\d{4}-`));

    // Disable and enable: denied meanwhile; delete needs --yes.
    expect(cli("disable", id).stdout).toBe(`disabled ${id}\n`);
    {
      const { store: s, kw: k } = await Keyward.open(join(cli.dir, "keyward.db"), "acme");
      expect((await k.check({ token })).code).toBe("TOKEN_DISABLED");
      await s.close();
    }
    expect(cli("enable", id).stdout).toBe(`enabled ${id}\n`);
    expect(cli("delete", id).code).toBe(2);

    // Team members: the first is an owner; never the last owner removed.
    expect(cli("members", "--owner", "acct_1", "--set", "user:ann=developer").code).toBe(2);
    expect(cli("members", "--owner", "acct_1", "--set", "user:bob=owner").stdout).toBe("owner      user:bob\n");
    expect(cli("members", "--owner", "acct_1", "--set", "user:ann=developer").stdout).toBe("owner      user:bob\ndeveloper  user:ann\n");
    expect(cli("members", "--owner", "acct_1", "--remove", "user:bob").code).not.toBe(0);
    expect(JSON.parse(cli("members", "--owner", "acct_1", "--json").stdout)).toEqual([
      { id: "user:bob", role: "owner" },
      { id: "user:ann", role: "developer" },
    ]);
    expect(cli("members", "--owner", "acct_1", "--set", "user:ann=root").code).toBe(2);
    // A member id holding "=" (the last "=" of --set names the role): the audit names it quoted, one member only.
    expect(cli("members", "--owner", "acct_1", "--set", "x=y=viewer").code).toBe(0);
    expect(cli("members", "--owner", "acct_1", "--remove", "x=y").code).toBe(0);
    const memberLines = cli("audit", "--owner", "acct_1").stdout.split("\n").filter((l) => / members /.test(l));
    expect(memberLines.map((l) => l.replace(/^.* by cli {2}/, ""))).toEqual(['"user:bob"=owner', '"user:ann"=developer', '"x=y"=viewer', 'remove "x=y"']);
    expect(cli("billing").code).toBe(2);

    expect(cli("revoke", id).stdout).toMatch(new RegExp(`^revoked ${id} at \\d{4}-`));
    expect(JSON.parse(cli("show", id, "--json").stdout).revokedAt).toEqual(expect.any(Number));
    const refused = cli("regenerate", id);
    expect([refused.code, refused.stdout]).toEqual([4, ""]);
    expect(refused.stderr).toBe("keyward regenerate: TOKEN_REVOKED: token is revoked\n");

    // No token ever reached the database file or the audit output in clear.
    const db = readFileSync(join(cli.dir, "keyward.db"));
    expect(db.includes(token)).toBe(false);
    expect(cli("audit", "--owner", "acct_1", "--json").stdout).not.toContain(token);

    // Deleted for good: the record and its rows go (2 hashes: the regenerated token's old one too); the audit log stays.
    expect(cli("delete", id, "--yes").stdout).toMatch(new RegExp(`^deleted ${id} \\(2 hashes, \\d+ credits, \\d+ rateLimits, \\d+ nonces, \\d+ usage\\)\n$`));
    expect(cli("show", id).code).toBe(3);
    expect(cli("audit", "--token", id).stdout).toContain("delete");
  });

  it("docs/roles.md's members lines run as they are, on an account with no members yet", () => {
    cli("init");
    const doc = readFileSync(join(ROOT, "docs/roles.md"), "utf8");
    const commands = [...doc.matchAll(/^npx keyward (members .*)$/gm)].map((m) => m[1]!.replaceAll("acct_1", "acct_roles_doc").split(" "));
    expect(commands.length).toBeGreaterThanOrEqual(2);
    const runs = commands.map((args) => cli(...args));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(commands.map(() => [0, ""]));
    expect(runs.at(-1)!.stdout).toBe("owner      user:1\ndeveloper  user:2\n");
  });

  it("prints the audit log through escapeText: a forged line cannot reach the terminal", async () => {
    const { store, kw } = await Keyward.open(join(cli.dir, "keyward.db"), "acme");
    const { record } = await kw.tokens.create({ owner: "acct_2", kind: "publishable", name: "site" });
    // The application's own audit writer (any store user) may hold raw control characters.
    await store.appendAudit({ id: "aud_forged", at: Date.now(), actor: "x\n2026-01-01 revoke by admin\u001b[2J", action: "update", tokenId: record.id, owner: "acct_2", changes: [] });
    await store.close();
    const out = cli("audit", "--owner", "acct_2").stdout;
    expect(out.trim().split("\n")).toHaveLength(2);
    expect(out).toContain("x\\u{a}2026-01-01 revoke by admin\\u{1b}[2J");
    expect(out).not.toContain("\u001b");
  });

  it("never prints a token that free text stored before keyward refused it: show, list, audit, billing, text and JSON", async () => {
    cli("init");
    const { store, kw } = await Keyward.open(join(cli.dir, "keyward.db"), "acme");
    const { token, record } = await kw.tokens.create({ owner: "acct_leak", kind: "secret" });
    // Written as an earlier version did: the live secret as owner, in the name and metadata, and as the actor.
    const id = "tok_pasted0000000000000001";
    const stored = (await store.get(record.id))!;
    await store.insert(
      { ...stored, id, hash: "c".repeat(64), owner: token, name: `prod ${token}`, metadata: { note: token, [token]: 1 } },
      { id: "aud_pasted", at: Date.now(), actor: token, action: "create", tokenId: id, owner: token, changes: [] },
    );
    await kw.close();
    await store.close();
    const runs = [
      ["show", id],
      ["list", "--owner", token],
      ["audit", "--token", id],
      ["audit", "--owner", token],
      ["billing", "--from", "30d", "--to", "0", "--owner", token],
    ].flatMap((args) => [cli(...args), cli(...args, "--json")]);
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout + run.stderr).not.toContain(token);
    }
    expect(runs[0]!.stdout).toContain("owner            acme_sk_live_[redacted]");
    expect(runs[0]!.stdout).toContain("name             prod acme_sk_live_[redacted]");
    const shown = JSON.parse(runs[1]!.stdout);
    expect([shown.owner, shown.name, shown.metadata]).toEqual(["acme_sk_live_[redacted]", "prod acme_sk_live_[redacted]", { note: "acme_sk_live_[redacted]", "acme_sk_live_[redacted]": 1 }]);
    expect(JSON.parse(runs[5]!.stdout).items.map((e: { actor: string }) => e.actor)).toEqual(["acme_sk_live_[redacted]"]);
  });

  // Five: each conflict a process meets is another's write that landed, so none meets more than four, within the
  // five attempts of an update without expectedRevision.
  it("5 update processes at once on one token's SQLite file each apply their change: none refused for a write it did not ask to check", async () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_race", "--json").stdout);
    const env = { PATH: process.env.PATH ?? "", KEYWARD_PREFIX: "acme" };
    const exits = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        promisify(execFile)(process.execPath, [cli.bin, "update", record.id, "--name", `n${i}`], { cwd: cli.dir, env }).then(
          () => 0,
          (e: { code?: number; stderr?: string }) => `${e.code}: ${e.stderr}`,
        ),
      ),
    );
    expect(exits).toEqual(Array(5).fill(0));
    const shown = JSON.parse(cli("show", record.id, "--json").stdout);
    expect(shown.revision).toBe(record.revision + 5);
    const actions = JSON.parse(cli("audit", "--token", record.id, "--json").stdout).items.map((e: { action: string }) => e.action);
    expect(actions.filter((a: string) => a === "update")).toHaveLength(5);
  });

  it("keygen and sign: headers for curl that the server accepts", async () => {
    const { pair, record } = signingToken("acct_3");
    expect(pair.privateKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const url = "https://api.example.com/v1/orders?x=1";
    const signed = cli("sign", url, "--key-id", record.id, "--key-file", "client.key", "-d", '{"qty":1}', "-H", "content-type: application/json");
    expect(signed.code).toBe(0);
    const args = [...signed.stdout.matchAll(/-H '([^']*)'/g)].map((m) => m[1]!);
    expect(args.map((a) => a.split(":")[0])).toEqual(["signature-input", "signature", "content-digest"]);
    expect(signed.stdout).not.toContain(pair.privateKey);
    const headers = new Headers([["content-type", "application/json"], ...args.map((a) => [a.slice(0, a.indexOf(":")), a.slice(a.indexOf(":") + 2)] as [string, string])]);
    const request = new Request(url, { method: "POST", headers, body: '{"qty":1}' });
    expect(await verifyRequestSignature(join(cli.dir, "keyward.db"), request)).toBe("ok");
    // A changed body is refused: the digest and signature are bound to it.
    const tampered = new Request(url, { method: "POST", headers, body: '{"qty":9}' });
    expect(await verifyRequestSignature(join(cli.dir, "keyward.db"), tampered)).not.toBe("ok");
    const both = cli("sign", url, "--key-id", record.id, "--key-file", "client.key", "--json", "--curl-config");
    expect([both.code, JSON.parse(both.stderr)]).toEqual([2, { code: "USAGE", message: "--json and --curl-config exclude each other" }]);
  });

  it("sign: the key from KEYWARD_SIGNING_KEY, else from KEYWARD_PRIVATE_KEY, the name signerFromEnv reads it by", async () => {
    cli("init");
    const { pair, record } = signingToken("acct_env");
    const url = "https://api.example.com/v1/prices";
    const verified = async (out: string) => {
      const headers = new Headers([...out.matchAll(/-H '([^:]*): ([^']*)'/g)].map((m) => [m[1]!, m[2]!] as [string, string]));
      return verifyRequestSignature(join(cli.dir, "keyward.db"), new Request(url, { headers }));
    };
    // An application's environment for signerFromEnv (KEYWARD_PRIVATE_KEY, trimmed as it trims it) signs here too.
    for (const env of [{ KEYWARD_SIGNING_KEY: pair.privateKey }, { KEYWARD_PRIVATE_KEY: `${pair.privateKey}\r` }] as Record<string, string>[]) {
      const signed = cli.run(["sign", url, "--key-id", record.id], { env });
      expect([Object.keys(env)[0], signed.code, signed.stderr]).toEqual([Object.keys(env)[0], 0, ""]);
      expect(await verified(signed.stdout)).toBe("ok");
    }
    // Both set: KEYWARD_SIGNING_KEY, the CLI's own, wins.
    const other = JSON.parse(cli("keygen", "--json").stdout).privateKey;
    const both = cli.run(["sign", url, "--key-id", record.id], { env: { KEYWARD_SIGNING_KEY: pair.privateKey, KEYWARD_PRIVATE_KEY: other } });
    expect(await verified(both.stdout)).toBe("ok");
    const none = cli.run(["sign", url, "--key-id", record.id], { env: { KEYWARD_PRIVATE_KEY: " " } });
    expect([none.code, none.stdout, none.stderr]).toEqual([2, "", "keyward sign: no signing key: give --key-file, set $KEYWARD_SIGNING_KEY (or $KEYWARD_PRIVATE_KEY, as signerFromEnv reads it), or use --hmac\n"]);
  });

  // The documented lines, run by /bin/sh with the real curl against a server that verifies with keyward.
  it.skipIf(!curl && !inCI)("docs/cli.md's signed request with curl is accepted (skipped without curl, which CI installs)", async () => {
    expect(curl, "curl not found: CI must run this test (apt-get install -y curl)").toBe(true);
    cli("init");
    const doc = readFileSync(join(ROOT, "docs/cli.md"), "utf8");
    // `npx keyward` of the page runs the installed CLI: here, the bin under test on the PATH.
    const block = doc.match(/### Signed requests with curl\n\n```sh\n([\s\S]*?)```/)?.[1]?.replaceAll("npx keyward ", "keyward ");
    const at = block?.indexOf("keyward sign ") ?? -1;
    expect(at).toBeGreaterThan(0);
    const [setup, request] = [block!.slice(0, at).replaceAll("acct_1", "acct_curl"), block!.slice(at)];
    // `keyward` on the PATH is the bin under test.
    const bin = join(cli.dir, "bin/keyward");
    mkdirSync(dirname(bin), { recursive: true });
    writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${join(cli.dir, "cli.mjs")}" "$@"\n`);
    chmodSync(bin, 0o755);
    const sh = (script: string) =>
      promisify(execFile)("/bin/sh", ["-c", script], { cwd: cli.dir, env: { PATH: `${dirname(bin)}:${dirname(process.execPath)}:${process.env.PATH}`, KEYWARD_PREFIX: "acme" } });
    // From the usual umask: the private key the page writes to files is readable by its owner alone (files it
    // makes: an earlier test's client.key, truncated by `>`, would keep its mode).
    for (const f of ["pair.json", "client.key"]) rmSync(join(cli.dir, f), { force: true });
    await sh(`umask 022\n${setup}`);
    for (const f of ["pair.json", "client.key"]) expect([f, statSync(join(cli.dir, f)).mode & 0o777]).toEqual([f, 0o600]);
    const id = JSON.parse(cli("list", "--owner", "acct_curl", "--json").stdout).items[0].id;

    const server = await ordersServer();
    try {
      const run = await sh(`${request.replaceAll("https://api.example.com", server.origin).replaceAll("tok_…", id)}`);
      expect(run.stdout).toBe("accepted");
      expect(server.seen).toEqual(['POST /v1/orders application/json {"qty":1}']);
    } finally {
      await server.close();
    }
  });

  it.skipIf(!curl && !inCI)("sign -d @file and --data-binary @file sign the body curl sends for the same option: a file with line breaks, real curl", async () => {
    expect(curl, "curl not found: CI must run this test (apt-get install -y curl)").toBe(true);
    cli("init");
    const { record } = signingToken("acct_file", "--scope", "orders:write");
    // curl -d @file strips carriage returns and line feeds; --data-binary @file sends the file as it is.
    writeFileSync(join(cli.dir, "order.json"), '{\r\n  "qty": 1\n}\n');
    const server = await ordersServer();
    try {
      const url = `${server.origin}/v1/orders`;
      for (const option of ["-d", "--data-binary"]) {
        const config = cli("sign", url, "--key-id", record.id, "--key-file", "client.key", option, "@order.json", "-H", "content-type: application/json", "--curl-config");
        expect([option, config.code, config.stderr]).toEqual([option, 0, ""]);
        expect([option, await curlWithConfig(config.stdout, [url, option, "@order.json", "-H", "content-type: application/json"], cli.dir)]).toEqual([option, "accepted"]);
      }
      expect(server.seen).toEqual(['POST /v1/orders application/json {  "qty": 1}', 'POST /v1/orders application/json {\r\n  "qty": 1\n}\n']);
    } finally {
      await server.close();
    }
    const both = cli("sign", "https://x.test/", "--key-id", record.id, "--key-file", "client.key", "-d", "a", "--data-binary", "b");
    expect([both.code, both.stderr]).toEqual([2, "keyward sign: --data and --data-binary exclude each other\n"]);
    const missing = cli("sign", "https://x.test/", "--key-id", record.id, "--key-file", "client.key", "-d", "@nope.json");
    expect([missing.code, missing.stderr]).toEqual([6, "keyward sign: cannot read nope.json: no such file or directory (ENOENT)\n"]);
  });

  it.skipIf(!curl && !inCI)("sign with -d (or --data-binary) given more than once signs the body curl sends: the pieces joined with &, real curl", async () => {
    expect(curl, "curl not found: CI must run this test (apt-get install -y curl)").toBe(true);
    cli("init");
    const { record } = signingToken("acct_pieces", "--scope", "orders:write");
    writeFileSync(join(cli.dir, "part.txt"), "b=2\r\n");
    const server = await ordersServer();
    try {
      const url = `${server.origin}/v1/orders`;
      for (const option of ["-d", "--data-binary"]) {
        const body = [option, "a=1", option, "@part.txt", option, "c=é"];
        const config = cli("sign", url, "--key-id", record.id, "--key-file", "client.key", ...body, "-H", "content-type: application/json", "--curl-config");
        expect([option, config.code, config.stderr]).toEqual([option, 0, ""]);
        expect([option, await curlWithConfig(config.stdout, [url, ...body, "-H", "content-type: application/json"], cli.dir)]).toEqual([option, "accepted"]);
      }
      expect(server.seen).toEqual(["POST /v1/orders application/json a=1&b=2&c=é", "POST /v1/orders application/json a=1&b=2\r\n&c=é"]);
    } finally {
      await server.close();
    }
  });

  it("a key that starts with a dash is a value, not an option; a forgotten value is still a usage error", () => {
    // One base64url key in 64 starts with "-"; node's parseArgs calls that ambiguous.
    let publicKey = "";
    while (!publicKey.startsWith("-")) publicKey = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!;
    const created = cli("create", "--owner", "acct_5", "--require-signed", "--ed25519-public-key", publicKey, "--json");
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).record.owner).toBe("acct_5");
    const forgot = cli("create", "--owner", "--json");
    expect([forgot.code, JSON.parse(forgot.stderr)]).toEqual([2, { code: "USAGE", message: expect.stringMatching(/^Option '--owner' argument is ambiguous/) }]);
  });

  it("reseal --owner: every HMAC key of the owner sealed under the first of NEW,OLD; then NEW alone verifies their signatures", async () => {
    const [OLD, NEW] = [Buffer.alloc(32, 7).toString("base64"), Buffer.alloc(32, 8).toString("base64")];
    const made = [0, 1].map(() => JSON.parse(cli.run(["create", "--owner", "acct_7", "--hmac", "--json"], { env: { KEYWARD_SEALING_KEY: OLD } }).stdout));
    cli.run(["create", "--owner", "acct_7", "--json"]);
    const url = "https://api.example.com/v1/prices";
    const signedBy = ({ token, record }: { token: string; record: { id: string } }) => {
      const out = cli.run(["sign", url, "--key-id", record.id, "--hmac"], { env: { KEYWARD_TOKEN: token } }).stdout;
      return new Request(url, { headers: new Headers([...out.matchAll(/-H '([^:]*): ([^']*)'/g)].map((m) => [m[1]!, m[2]!] as [string, string])) });
    };
    const db = join(cli.dir, "keyward.db");
    // Not yet: under NEW alone the keys sealed under OLD do not open.
    expect(await verifyRequestSignature(db, signedBy(made[0]), NEW)).not.toBe("ok");
    const both = { env: { KEYWARD_SEALING_KEY: `${NEW},${OLD}` } };
    expect([cli.run(["reseal", "--owner", "acct_7"], both).stdout]).toEqual(["resealed 2 keys of 2 of 3 tokens\n"]);
    expect(JSON.parse(cli.run(["reseal", "--owner", "acct_7", "--json"], both).stdout)).toEqual({ tokens: 3, resealedTokens: 0, resealedKeys: 0 });
    for (const m of made) expect(await verifyRequestSignature(db, signedBy(m), NEW)).toBe("ok");
    expect(cli.run(["reseal", made[0].record.id], both).stdout).toBe("resealed 0 keys of 0 of 1 token\n");
    expect(cli.run(["reseal"], both).code).toBe(2);
    expect(cli.run(["reseal", made[0].record.id, "--owner", "acct_7"], both).code).toBe(2);
  });

  it("sign --hmac: the key derived from the token in KEYWARD_TOKEN", async () => {
    const sealingKey = Buffer.alloc(32, 7).toString("base64");
    const created = cli.run(["create", "--owner", "acct_4", "--hmac", "--require-signed", "--json"], { env: { KEYWARD_SEALING_KEY: sealingKey } });
    const { token, record } = JSON.parse(created.stdout);
    const url = "https://api.example.com/v1/prices";
    const signed = cli.run(["sign", url, "--key-id", record.id, "--hmac"], { env: { KEYWARD_TOKEN: token } });
    expect(signed.code).toBe(0);
    expect(signed.stdout).not.toContain(token);
    const headers = new Headers([...signed.stdout.matchAll(/-H '([^:]*): ([^']*)'/g)].map((m) => [m[1]!, m[2]!] as [string, string]));
    expect(await verifyRequestSignature(join(cli.dir, "keyward.db"), new Request(url, { headers }), sealingKey)).toBe("ok");
    // The token given as --key-id would go out in Signature-Input: refused, and not echoed.
    const pasted = cli.run(["sign", url, "--key-id", token, "--hmac"], { env: { KEYWARD_TOKEN: token } });
    expect([pasted.code, pasted.stdout, pasted.stderr]).toEqual([2, "", "keyward sign: keyId looks like a token; pass the token's public id (tok_…), never the token\n"]);
  });

  it("sign --hmac: KEYWARD_TOKEN is trimmed, as KEYWARD_SIGNING_KEY and signerFromEnv's, and blank is not set", async () => {
    cli("init");
    const sealingKey = Buffer.alloc(32, 7).toString("base64");
    const created = cli.run(["create", "--owner", "acct_4", "--hmac", "--require-signed", "--json"], { env: { KEYWARD_SEALING_KEY: sealingKey } });
    const { token, record } = JSON.parse(created.stdout);
    const url = "https://api.example.com/v1/prices";
    // A .env file with CRLF line ends, or `export KEYWARD_TOKEN=" kw_…"`: the token is the same.
    for (const value of [`${token}\r`, ` ${token}\n`]) {
      const signed = cli.run(["sign", url, "--key-id", record.id, "--hmac"], { env: { KEYWARD_TOKEN: value } });
      expect(signed.code).toBe(0);
      const headers = new Headers([...signed.stdout.matchAll(/-H '([^:]*): ([^']*)'/g)].map((m) => [m[1]!, m[2]!] as [string, string]));
      expect(await verifyRequestSignature(join(cli.dir, "keyward.db"), new Request(url, { headers }), sealingKey)).toBe("ok");
    }
    const blank = cli.run(["sign", url, "--key-id", record.id, "--hmac"], { env: { KEYWARD_TOKEN: " \t" } });
    expect([blank.code, blank.stdout, blank.stderr]).toEqual([2, "", "keyward sign: --hmac reads the token from $KEYWARD_TOKEN, which is not set\n"]);
  });
});

/**
 * A token of `owner` that must sign its requests (Ed25519, from `keyward keygen`), created by the CLI with `args`;
 * its private key written to client.key in the CLI's folder (mode 0600).
 */
function signingToken(owner: string, ...args: string[]): { pair: { privateKey: string; publicKey: string }; record: { id: string } } {
  const pair = JSON.parse(cli("keygen", "--json").stdout);
  const { record } = JSON.parse(cli("create", "--owner", owner, ...args, "--require-signed", "--ed25519-public-key", pair.publicKey, "--json").stdout);
  writeFileSync(join(cli.dir, "client.key"), pair.privateKey, { mode: 0o600 });
  return { pair, record };
}

/** What real curl prints for `args`, given `config` (a `--curl-config` of keyward sign) on its standard input. */
async function curlWithConfig(config: string, args: string[], cwd: string): Promise<string> {
  const sent = execFile("curl", ["-sS", "-K", "-", ...args], { cwd });
  let out = "";
  sent.stdout!.on("data", (chunk: string) => (out += chunk));
  sent.stdin!.end(config);
  await once(sent, "close");
  return out;
}

/**
 * An API route on 127.0.0.1 over the CLI's database, as an application would
 * take a signed order: the scope of an order, and a JSON body (express.json()
 * and Fastify parse nothing else). `seen`: each request as it came.
 */
async function ordersServer() {
  const { store, kw } = await Keyward.open(join(cli.dir, "keyward.db"), "acme");
  const seen: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c);
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const d = await kw.verify(new Request(`http://${req.headers.host}${req.url}`, { method: req.method!, headers, body }), { scope: "orders:write" });
    seen.push(`${req.method} ${req.url} ${req.headers["content-type"]} ${body}`);
    if (d.ok && req.headers["content-type"] !== "application/json") res.writeHead(415).end("not JSON");
    else res.writeHead(d.ok ? 200 : d.status).end(d.ok ? "accepted" : d.code);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    async close() {
      server.close();
      await kw.close();
      await store.close();
    },
  };
}
