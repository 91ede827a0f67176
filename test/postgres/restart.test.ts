// A real PostgreSQL restart under load (a rolling upgrade, a failover,
// `systemctl restart postgresql`): `pg_ctl restart -m fast` (every backend
// told 57P01 admin_shutdown, in-flight transactions aborted, idle pooled and
// LISTEN connections closed) and `-m immediate` (the server killed, crash
// recovery at the start), with requests in flight, on a cluster of the test's
// own. The proxy tests of store.test.ts cut the TCP path; this is the server.
import { setTimeout as sleep } from "node:timers/promises";
import { type Decision, Keyward, KeywardError, StoreUnavailableError, type UsageWriteError } from "keyward";
import { postgresStore } from "keyward/postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type Cluster, canStartCluster, type ShutdownMode, startCluster } from "./cluster.js";
import { freshPrefix } from "./server.js";

/** The listener's timings here: short, so the test is; the bound below is derived from them. */
const FEED = { reconnectMinMs: 50, reconnectMaxMs: 400, heartbeatMs: 1_000 };
/** Concurrent callers of the load: at most this many requests are in flight when the server goes down. */
const CALLERS = 8;
/** How long the server stays down (`pg_ctl restart` = stop, then start: a slow start, a failover's delay). */
const DOWN_MS = 1_000;
/** Slack on every deadline: the machine is shared and loaded. */
const SLACK_MS = 5_000;

/** Polls `probe` until it answers true; throws once `deadline` (performance.now()) passed. */
async function until(deadline: number, what: string, probe: () => boolean | Promise<boolean>): Promise<number> {
  for (;;) {
    if (await probe()) return performance.now();
    if (performance.now() > deadline) throw new Error(`${what}: not within the deadline`);
    await sleep(20);
  }
}

/** The error an admin call rejects with, or null when it resolves. */
const rejection = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);

interface Seen {
  token: "metered" | "flat";
  start: number;
  end: number;
  decision?: Decision;
  thrown?: unknown;
}

describe.runIf(canStartCluster)("PostgreSQL restarted under load", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 90_000);
  afterAll(() => cluster?.destroy());

  const open = () => {
    const pool = new pg.Pool({ connectionString: cluster.url, max: 10, statement_timeout: 2_000, query_timeout: 3_000, connectionTimeoutMillis: 1_000 });
    // As docs/fleet.md: an idle connection the server closed (57P01) is the pool's to replace.
    pool.on("error", () => {});
    return pool;
  };

  // With credit leases, the flat token's credits are spent from a block reserved in memory, its reports group-committed;
  // without, in one statement a request. (Two cases, not four: the test's time.)
  it.each<[ShutdownMode, boolean]>([
    ["fast", false],
    ["immediate", true],
  ])("pg_ctl restart -m %s mid-load (credit leases: %s): denied STORE_UNAVAILABLE or allowed and charged, admin calls coded, feed and pool back", async (mode, creditLeases) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    onTestFinished(() => {
      process.off("unhandledRejection", onUnhandled);
    });
    const tablePrefix = freshPrefix();
    const [poolA, poolB] = [open(), open()];
    const feedErrors: unknown[] = [];
    // Lock waits and lookups get long bounds: once the server is back every answer must be OK, on a loaded machine too.
    const storeA = await postgresStore(poolA, { tablePrefix, ...FEED, creditLeases, requestLockTimeoutMs: 10_000, onChangeFeedError: (e) => feedErrors.push(e) });
    const storeB = await postgresStore(poolB, { tablePrefix, ...FEED, onChangeFeedError: () => {} });
    // A's cache outlives the test: a revocation it sees in time came through the change feed.
    const usageErrors: UsageWriteError[] = [];
    const kwA = new Keyward({ store: storeA, prefix: "acme", revocationBoundMs: 600_000, lookupTimeoutMs: 10_000, usage: { flushIntervalMs: 100, onError: (e) => usageErrors.push(e) } });
    const kwB = new Keyward({ store: storeB, prefix: "acme" });
    let closed = false;
    const close = async () => {
      closed = true;
      await Promise.all([kwA.close(), kwB.close()]);
      await Promise.all([storeA.close(), storeB.close()]);
      await Promise.all([poolA.end(), poolB.end()]);
    };
    // A test that failed midway lets its instances go all the same.
    onTestFinished(() => (closed ? undefined : close().catch(() => {})));
    // A token metered in a transaction (its credits, its account's and a rate limit), one in a single statement
    // (flat credits) or from a lease.
    await kwA.accounts.set("acct_m", { credits: { limit: 100_000_000 } });
    const rateLimit = { limit: 1_000_000, windowMs: 600_000 };
    const metered = await kwA.tokens.create({ owner: "acct_m", kind: "secret", credits: { limit: 1_000_000 }, rateLimit });
    const flat = await kwA.tokens.create({ owner: "acct_f", kind: "secret", credits: { limit: 1_000_000 } });
    const victim = await kwA.tokens.create({ owner: "acct_f", kind: "secret" });
    // A token A never looked up: with the store down, it cannot know the token, and must not say it is unknown.
    const unseen = await kwB.tokens.create({ owner: "acct_f", kind: "secret" });

    // The load: callers in a loop, bearer requests for one token and checks for the other, every answer kept.
    const seen: Seen[] = [];
    let loading = true;
    const caller = async (i: number) => {
      for (let k = 0; loading; k++) {
        const token = (i + k) % 2 === 0 ? "metered" : "flat";
        const s: Seen = { token, start: performance.now(), end: 0 };
        try {
          s.decision =
            token === "metered"
              ? await kwA.verify(new Request("https://api.test/v1/prices", { headers: { authorization: `Bearer ${metered.token}` } }), { scope: "core:read" })
              : await kwA.check({ token: flat.token, cost: 2 });
        } catch (err) {
          s.thrown = err;
        }
        s.end = performance.now();
        seen.push(s);
        // A store down answers at once: no busy loop meanwhile.
        if (!s.decision?.ok) await sleep(10);
      }
    };
    const load = Promise.all(Array.from({ length: CALLERS }, (_, i) => caller(i)));
    await until(performance.now() + 10_000, "warm-up", () => seen.filter((s) => s.decision?.ok).length >= 100);

    // The restart, while requests are in flight.
    const stopAt = performance.now();
    await cluster.stop(mode);
    const downAt = performance.now();
    // Down: the feeds noticed; every request answered in this window is denied STORE_UNAVAILABLE; admin calls fail, coded.
    await until(downAt + SLACK_MS, "the feed notices the server is down", () => !storeA.listening && !storeB.listening);
    const adminDown = await Promise.all([
      rejection(kwA.tokens.create({ owner: "acct_r", kind: "secret" })),
      rejection(kwA.tokens.update(metered.record.id, { name: "during" })),
      rejection(kwB.tokens.revoke(victim.record.id)),
    ]);
    for (const err of adminDown) {
      expect(err).toBeInstanceOf(KeywardError);
      expect(err).toMatchObject({ code: "STORE_UNAVAILABLE" });
    }
    expect(await kwA.check({ token: unseen.token })).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    // A usage write while down (of a denial of a token A knows, at least) fails; its events are queued again.
    expect((await kwA.check({ token: flat.token })).code).toBe("STORE_UNAVAILABLE");
    await kwA.flush();
    expect(kwA.usage.stats().failedWrites).toBeGreaterThan(0);
    await sleep(Math.max(0, DOWN_MS - (performance.now() - downAt)));
    const startAt = performance.now();
    await cluster.start();
    const upAt = performance.now();

    // Back: both tokens allowed again, within a few reconnections of the pool.
    const recoveredAt = await until(upAt + SLACK_MS, "requests allowed again", () =>
      (["metered", "flat"] as const).every((t) => seen.some((s) => s.token === t && s.start > upAt && s.decision?.ok)),
    );
    // The change feed listens again within its documented bound: a reconnect delay, a connection and a LISTEN.
    const feedBound = FEED.reconnectMaxMs + 2 * FEED.heartbeatMs + SLACK_MS;
    await until(upAt + feedBound, "the change feed listens again", () => storeA.listening && storeB.listening);
    await sleep(300);
    loading = false;
    await load;

    // Never a throw out of check/verify; down, every answer STORE_UNAVAILABLE (503); back, every answer OK (no poisoned pool).
    expect(seen.filter((s) => s.thrown !== undefined).map((s) => s.thrown)).toEqual([]);
    const codes = (from: number, to: number) => new Set(seen.filter((s) => s.start >= from && s.end <= to).map((s) => `${s.decision!.code} ${s.decision!.status}`));
    expect(codes(downAt, startAt)).toEqual(new Set(["STORE_UNAVAILABLE 503"]));
    expect(codes(recoveredAt, Infinity)).toEqual(new Set(["OK 200"]));
    for (const s of seen) expect(["OK", "STORE_UNAVAILABLE"]).toContain(s.decision!.code);
    expect(seen.filter((s) => s.start > stopAt && s.end < recoveredAt && !s.decision!.ok).length).toBeGreaterThan(0);
    const granted = (t: Seen["token"]) => seen.filter((s) => s.token === t && s.decision!.ok).length;

    // The change feed carries changes again: revoked on B, denied on A (whose cache would keep it 600 s) within the bound.
    expect((await kwA.check({ token: victim.token })).code).toBe("OK");
    const revokedAt = performance.now();
    await kwB.tokens.revoke(victim.record.id);
    await until(revokedAt + feedBound, "A denies the token B revoked", async () => (await kwA.check({ token: victim.token })).code === "TOKEN_REVOKED");
    // The feed's errors were reported, coded, as what they are: not as a store that cannot be opened.
    expect(feedErrors.length).toBeGreaterThan(0);
    for (const err of feedErrors) {
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(/^the change feed's connection failed: /);
    }
    // A fast shutdown tells the listening backend why: admin_shutdown.
    if (mode === "fast") expect(feedErrors).toContainEqual(expect.objectContaining({ driverCode: "57P01" }));

    // Admin calls work again, on both instances.
    await kwA.tokens.update(metered.record.id, { name: "after" });
    expect((await kwB.tokens.get(metered.record.id))?.name).toBe("after");
    expect((await kwB.tokens.create({ owner: "acct_r", kind: "secret" })).record.owner).toBe("acct_r");

    // Usage: writes that failed while the server was down were queued again and written once it was back; none dropped.
    await kwA.flush();
    const stats = kwA.usage.stats();
    expect(stats).toMatchObject({ queued: 0, dropped: 0 });
    expect(usageErrors.length).toBe(stats.failedWrites);
    for (const e of usageErrors) expect(e).toMatchObject({ error: { code: "STORE_UNAVAILABLE" }, requeued: e.events });
    const now = Date.now();
    for (const [t, record, cost] of [["metered", metered.record, 1], ["flat", flat.record, 2]] as const) {
      const buckets = await kwA.usage.get(record.id, { from: now - 3_600_000, to: now + 3_600_000 });
      const sum = buckets.reduce((a, b) => ({ allowed: a.allowed + b.allowed, credits: a.credits + b.credits }), { allowed: 0, credits: 0 });
      expect(sum, t).toEqual({ allowed: granted(t), credits: cost * granted(t) });
    }

    await close();
    // Credits, once the stores returned their leases' rest: never granted without being charged; charged without a
    // grant only for the requests in flight at the stop (their commit done, its reply lost with the connection). A
    // lease whose return failed in the outage holds its rest until it expires: not charged to anyone yet.
    const db = open();
    const one = async (sql: string, key: string) => Number((await db.query(sql, [key])).rows[0]?.n ?? 0);
    const held = (tokenId: string) => one(`SELECT sum(granted - reported) AS n FROM ${tablePrefix}credit_leases WHERE token_id = $1`, tokenId);
    const used = async (tokenId: string) => (await one(`SELECT used AS n FROM ${tablePrefix}credits WHERE token_id = $1`, tokenId)) - (await held(tokenId));
    const charged = { metered: await used(metered.record.id), flat: (await used(flat.record.id)) / 2 };
    expect(charged.metered).toBeGreaterThanOrEqual(granted("metered"));
    expect(charged.flat).toBeGreaterThanOrEqual(granted("flat"));
    expect(charged.metered - granted("metered") + (charged.flat - granted("flat"))).toBeLessThanOrEqual(CALLERS);
    // The account's balance moved with its token's, in the same transactions.
    expect(await one(`SELECT used AS n FROM ${tablePrefix}account_credits WHERE owner = $1`, "acct_m")).toBe(charged.metered);
    await db.end();
    await sleep(20);
    expect(unhandled).toEqual([]);
  }, 90_000);
});
