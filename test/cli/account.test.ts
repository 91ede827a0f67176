// keyward account: an account as it stands (ceiling, pools and balances, rate limit, suspension and since when,
// members), read without writing, by the real bin on a real SQLite file: the one way before was `suspend --json`,
// which changes the account.
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Keyward } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { makeAuditEntry } from "keyward/testing";
import { describe, expect, it } from "vitest";
import { servedDatabase } from "../support/another-user.js";
import { useCli } from "./helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });

/** The application's side: a Keyward over the CLI's database, as a billing job sets plans (kw.accounts.set). */
async function withKeyward<T>(run: (kw: Keyward, store: ReturnType<typeof sqliteStore>) => Promise<T>): Promise<T> {
  const store = sqliteStore(join(cli.dir, "keyward.db"));
  try {
    return await run(new Keyward({ store, prefix: "acme" }), store);
  } finally {
    store.close();
  }
}

/** The account and its audit log, read from the database: what a read must leave as it was. */
const stored = (owner: string) => withKeyward(async (kw) => ({ account: await kw.accounts.get(owner), audit: await kw.tokens.audit({ owner }, { limit: 1000 }) }));

const ok = (...args: string[]) => {
  const r = cli(...args);
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
  return r.stdout;
};
const shown = (owner: string, ...more: string[]) => JSON.parse(ok("account", "--owner", owner, "--json", ...more));

const DAY = 86_400_000;
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;

describe("keyward account", () => {
  it("shows the ceiling, pools with their balances, rate limit, token rules, suspension with its reason and start, and members; writes nothing", async () => {
    expect(cli("init").code).toBe(0);
    const { token } = JSON.parse(ok("create", "--owner", "acct_1", "--scope", "core:read", "--json"));
    ok("members", "--owner", "acct_1", "--set", "user:1=owner");
    ok("members", "--owner", "acct_1", "--set", "user 2=developer");
    await withKeyward((kw) =>
      kw.accounts.set("acct_1", {
        ceiling: ["core:read", "premium:read"],
        credits: { limit: 1000, reset: "month", overage: 50 },
        pools: { premium: { limit: 10, refill: { amount: 10, intervalMs: DAY } } },
        rateLimit: { limit: 100, windowMs: 1000 },
        tokens: { maxLifetimeMs: 365 * DAY },
      }),
    );
    ok("credits", "--owner", "acct_1", "--top-up", "5");
    ok("suspend", "--owner", "acct_1", "--reason", "invoice 2026-11 unpaid");
    const before = await stored("acct_1");
    const suspension = before.audit.items.at(-1)!;
    expect(suspension).toMatchObject({ action: "account", reason: "invoice 2026-11 unpaid" });

    const view = shown("acct_1");
    // The account as kw.accounts.get (and suspend --json) gives it; the balances as credits --owner reads them.
    expect(view).toEqual({
      owner: "acct_1",
      account: before.account,
      suspended: { reason: "invoice 2026-11 unpaid", since: suspension.at },
      balances: {
        default: { limit: 1000, remaining: 1055, nextRefillAt: expect.any(Number) },
        premium: { limit: 10, remaining: 10, nextRefillAt: null },
      },
    });
    expect({ owner: "acct_1", ...view.balances.default, replayed: false }).toEqual(JSON.parse(ok("credits", "--owner", "acct_1", "--json")));

    const text = ok("account", "--owner", "acct_1").replace(new RegExp(ISO, "g"), "<time>");
    expect(text).toBe(
      [
        "owner            acct_1",
        'status           suspended since <time>: "invoice 2026-11 unpaid"',
        "ceiling          core:read premium:read",
        "credits          1000 (full every month, UTC), overage 50",
        "  balance        1055 of 1000 left, next refill <time>",
        "pool premium     10 (+10 every 1d)",
        "  balance        10 of 10 left",
        "rate limit       100 per 1s",
        "token lifetime   default the application's, max 365d, rotation the application's",
        'members          owner "user:1", developer "user 2"',
        "created          <time>",
        "updated          <time>",
        "revision         4",
        "",
      ].join("\n"),
    );
    expect(ok("account", "--owner", "acct_1")).toContain(`suspended since ${new Date(suspension.at).toISOString()}`);
    // No secret: the account holds none, and no token of the owner is printed.
    expect(text + JSON.stringify(view)).not.toContain(token.slice(-12));
    // Read, not written: the account's revision and the audit log are as they were (no credits entry, no account change).
    expect(await stored("acct_1")).toEqual(before);
  });

  it("since when: the suspension in force at its effective time, across lifts; a scheduled one shows as scheduled, not in force", async () => {
    cli("init");
    ok("create", "--owner", "acct_since", "--json");
    // Backdated two hours: suspended since then, not since the write.
    const twoHoursAgo = new Date(Math.floor((Date.now() - 2 * 3_600_000) / 1000) * 1000);
    ok("suspend", "--owner", "acct_since", "--reason", "first", "--effective-at", twoHoursAgo.toISOString());
    expect(shown("acct_since").suspended).toEqual({ reason: "first", since: twoHoursAgo.getTime() });
    // A new reason while suspended: still suspended since the first.
    ok("suspend", "--owner", "acct_since", "--reason", "second");
    expect(shown("acct_since")).toMatchObject({ suspended: { reason: "second", since: twoHoursAgo.getTime() }, account: { policy: { suspended: { reason: "second" } } } });
    // Lifted, then suspended again: since the last suspension.
    ok("suspend", "--owner", "acct_since", "--lift");
    expect(shown("acct_since")).toMatchObject({ suspended: null, account: { policy: { suspended: null } } });
    ok("suspend", "--owner", "acct_since", "--reason", "third");
    const third = (await stored("acct_since")).audit.items.at(-1)!;
    expect(shown("acct_since").suspended).toEqual({ reason: "third", since: third.at });
    // A lift scheduled for tomorrow: suspended now (since the third), the lift listed as scheduled.
    ok("suspend", "--owner", "acct_since", "--lift", "--effective-at", "+1d");
    const view = shown("acct_since");
    expect([view.suspended, view.account.scheduled.length]).toEqual([{ reason: "third", since: third.at }, 1]);
    expect(ok("account", "--owner", "acct_since")).toMatch(new RegExp(`\\nscheduled        ${ISO.source}: status active\\n$`));
    // A suspension made at once cancels a lift scheduled before it (the account applies it to the revisions after):
    // once the lift's time has passed, still suspended since the first suspension. Written with the application's
    // clock set back, as by a billing job hours ago.
    const t = Date.now();
    for (const [clock, patch, effectiveAt] of [
      [t - 3 * 3_600_000, { suspended: { reason: "a" } }, undefined],
      [t - 3 * 3_600_000 + 1000, { suspended: null }, t - 3_600_000],
      [t - 2 * 3_600_000, { suspended: { reason: "b" } }, undefined],
    ] as const) {
      const store = sqliteStore(join(cli.dir, "keyward.db"));
      try {
        const kw = new Keyward({ store, prefix: "acme", now: () => clock });
        if (!(await kw.accounts.get("acct_cancel"))) await kw.tokens.create({ owner: "acct_cancel", kind: "secret" });
        await kw.accounts.set("acct_cancel", patch, effectiveAt === undefined ? {} : { effectiveAt });
      } finally {
        store.close();
      }
    }
    expect(shown("acct_cancel").suspended).toEqual({ reason: "b", since: t - 3 * 3_600_000 });

    // A suspension scheduled, on an active account: active, with no since.
    ok("create", "--owner", "acct_later", "--json");
    ok("suspend", "--owner", "acct_later", "--reason", "notice given", "--effective-at", "+7d");
    const later = shown("acct_later");
    const due = later.account.scheduled[0].effectiveAt;
    expect([later.suspended, later.account.policy.suspended ?? null, later.account.scheduled[0].policy.suspended]).toEqual([null, null, { reason: "notice given", since: due }]);
    const text = ok("account", "--owner", "acct_later");
    expect(text).toContain("status           active\n");
    expect(text).toMatch(new RegExp(`\\nscheduled        ${ISO.source}: status suspended: "notice given"\\n$`));
  });

  it("since when without reading the audit log: kept by the account, also once the log is pruned; one written before, from a short log only", async () => {
    cli("init");
    ok("create", "--owner", "acct_kept", "--json");
    ok("suspend", "--owner", "acct_kept", "--reason", "unpaid");
    const { account } = await stored("acct_kept");
    const since = account!.policy.suspended!.since!;
    expect(shown("acct_kept").suspended).toEqual({ reason: "unpaid", since });
    // An owner's log of more entries than a page, then pruned (a retention job): the start is the account's.
    await withKeyward(async (_kw, store) => {
      for (let i = 0; i < 1100; i++) await store.appendAudit(makeAuditEntry({ owner: "acct_kept", at: since + 1 + i }));
    });
    expect(shown("acct_kept").suspended).toEqual({ reason: "unpaid", since });
    const db = new DatabaseSync(join(cli.dir, "keyward.db"));
    db.exec("DELETE FROM keyward_audit WHERE owner = 'acct_kept'");
    db.close();
    expect(shown("acct_kept").suspended).toEqual({ reason: "unpaid", since });

    // A suspension as the version before wrote it (no since): the start as its audit log has it, when the log is short.
    ok("create", "--owner", "acct_old", "--json");
    ok("suspend", "--owner", "acct_old", "--reason", "before since");
    const old = await withKeyward(async (kw, store) => {
      const a = (await store.getAccount("acct_old"))!;
      await store.putAccount({ ...a, policy: { ...a.policy, suspended: { reason: "before since" } } }, a.revision);
      return (await kw.tokens.audit({ owner: "acct_old" })).items.at(-1)!;
    });
    expect(shown("acct_old").suspended).toEqual({ reason: "before since", since: old.at });
    // A long log is not read: not known.
    await withKeyward(async (_kw, store) => {
      for (let i = 0; i < 1000; i++) await store.appendAudit(makeAuditEntry({ owner: "acct_old", at: old.at + 1 + i }));
    });
    expect(shown("acct_old").suspended).toEqual({ reason: "before since", since: null });
    expect(ok("account", "--owner", "acct_old")).toContain('status           suspended (since unknown): "before since"\n');
  });

  it("an owner with tokens and no account: no plan, no balances; an owner with neither is ACCOUNT_NOT_FOUND, and nothing is made", async () => {
    cli("init");
    ok("create", "--owner", "acct_bare", "--json");
    expect(shown("acct_bare")).toEqual({ owner: "acct_bare", account: null, suspended: null, balances: {} });
    expect(ok("account", "--owner", "acct_bare")).toContain("account          none yet: the owner has tokens and no plan, pool or member set\n");
    const r = cli("account", "--owner", "acct_typo", "--json");
    expect([r.code, r.stdout, JSON.parse(r.stderr)]).toEqual([3, "", { code: "ACCOUNT_NOT_FOUND", message: "account not found", owner: "acct_typo" }]);
    expect(cli("account", "--owner", "acct_typo").stderr).toBe("keyward account: ACCOUNT_NOT_FOUND: account not found\n");
    expect(await stored("acct_typo")).toEqual({ account: null, audit: { items: [], nextCursor: null } });
    // Usage errors, as every command's.
    expect(cli("account").stderr).toBe("keyward account: missing --owner\n");
    expect(cli("account", "acct_bare").code).toBe(2);
    expect(cli("account", "--owner", "acct_bare", "--reason", "x").code).toBe(2);
  });

  it("works with --read-only, and on a file this user may not write, giving what it gives on a writable one", async () => {
    cli("init");
    ok("create", "--owner", "acct_ro", "--json");
    await withKeyward((kw) => kw.accounts.set("acct_ro", { credits: { limit: 100, refill: { amount: 100, intervalMs: DAY } }, suspended: { reason: "audit" } }));
    const expected = shown("acct_ro");
    const db = join(cli.dir, "keyward.db");
    // The service runs: its connection keeps the -wal and -shm files; the file is another user's to the reader.
    const service = servedDatabase(db, [cli.bin]);
    try {
      // A read-only connection leaves -wal and -shm it had to make (docs/cli.md): asked while the service has them open.
      expect(shown("acct_ro", "--read-only")).toEqual(expected);
      const bytes = readFileSync(db);
      const r = cli.run(["account", "--owner", "acct_ro", "--json"], { asNobody: true });
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(JSON.parse(r.stdout)).toEqual(expected);
      expect(readFileSync(db).equals(bytes)).toBe(true);
    } finally {
      service.close();
      chmodSync(cli.dir, 0o700);
    }
  });
});
