// A bound on the usage rows one token makes per minute: the scope of a row is the application's, and an
// application that builds it from the client's input (a path parameter) would let any token holder add a
// row per value per minute. Past `usage.maxScopesPerMinute` distinct scopes, a token's requests of that
// minute are counted under one row, "(other)", and the application is told.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Keyward, type LogRecord, MemoryStore, type TokenStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it, vi } from "vitest";

const T0 = Date.UTC(2026, 0, 10, 12);
const MIN = 60_000;

async function app(store: TokenStore, usage: Record<string, unknown> = {}, logger?: (r: LogRecord) => void) {
  let now = T0;
  const kw = new Keyward({ store, prefix: "acme", env: "test", now: () => now, usage: { flushIntervalMs: 60_000, ...usage }, telemetry: logger ? { logger } : undefined });
  const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["datasets/*:read"] });
  return { kw, token, id: record.id, set: (t: number) => (now = t) };
}

describe("usage rows per token and minute", () => {
  it("a token asking for 1 000 distinct scopes in a minute makes at most maxScopesPerMinute + 1 rows: the rest counted under (other), every request and credit kept", async () => {
    const logs: LogRecord[] = [];
    const { kw, token, id } = await app(new MemoryStore(), {}, (r) => logs.push(r));
    for (let i = 0; i < 1_000; i++) await kw.check({ token, scope: `datasets/d${i}:read` });
    await kw.flush();
    const rows = await kw.usage.get(id, { from: T0 - MIN, to: T0 + MIN, granularity: "minute", groupBy: "scope" });
    // Before: 1 000 rows, one per scope the client named.
    expect(rows.length).toBe(101);
    const other = rows.find((r) => r.key === "(other)");
    expect(other).toMatchObject({ allowed: 900, denied: 0 });
    expect(rows.reduce((n, r) => n + r.allowed, 0)).toBe(1_000);
    expect(kw.usage.stats().scopesCapped).toBe(900);
    // Told once for the minute (the token's public id and the bound), not per request.
    expect(logs.filter((r) => r.event === "usage.scopes_capped")).toEqual([
      { level: "warn", event: "usage.scopes_capped", message: expect.any(String), fields: { tokenId: id, maxScopesPerMinute: 100 } },
    ]);
    await kw.close();
  });

  it("a scope seen before the bound keeps its row; the next minute starts afresh; another token has a bound of its own", async () => {
    const store = new MemoryStore();
    const seen: (string | null)[] = [];
    const { kw, token, id, set } = await app(store, { maxScopesPerMinute: 3, onDecision: (e: { scope: string | null }) => seen.push(e.scope) });
    const { token: other, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["datasets/*:read"] });
    for (const s of ["a", "b", "c", "d", "a", "e", "c"]) await kw.check({ token, scope: `datasets/${s}:read` });
    for (const s of ["x", "y"]) await kw.check({ token: other, scope: `datasets/${s}:read` });
    set(T0 + MIN);
    for (const s of ["d", "e"]) await kw.check({ token, scope: `datasets/${s}:read` });
    await kw.flush();
    const keys = async (tokenId: string, from: number) =>
      Object.fromEntries((await kw.usage.get(tokenId, { from, to: from + MIN, granularity: "minute", groupBy: "scope" })).map((r) => [r.key, r.allowed]));
    expect(await keys(id, T0)).toEqual({ "datasets/a:read": 2, "datasets/b:read": 1, "datasets/c:read": 2, "(other)": 2 });
    expect(await keys(id, T0 + MIN)).toEqual({ "datasets/d:read": 1, "datasets/e:read": 1 });
    expect(await keys(record.id, T0)).toEqual({ "datasets/x:read": 1, "datasets/y:read": 1 });
    // Only the stored row is (other): the hooks saw the route's scope.
    expect(seen.slice(0, 7)).toEqual(["a", "b", "c", "d", "a", "e", "c"].map((s) => `datasets/${s}:read`));
    // The overflow row is read like any other, by its scope.
    expect(await kw.usage.get(id, { from: T0, to: T0 + 2 * MIN, granularity: "minute", scope: "(other)" })).toEqual([{ start: T0, allowed: 2, denied: 0, credits: 0 }]);
    await kw.close();
  });

  it("on SQLite, the rows written are counted: 10 000 distinct scopes from one token in a minute make 101 rows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kw-scopes-"));
    const db = new DatabaseSync(join(dir, "kw.db"));
    try {
      const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
      const { kw, token } = await app(sqliteStore(db));
      for (let i = 0; i < 10_000; i++) await kw.check({ token, scope: `datasets/d${i}:read` });
      await kw.close();
      expect((db.prepare("SELECT count(*) AS n FROM keyward_usage_detail").get() as { n: number }).n).toBe(101);
      expect((db.prepare("SELECT requests FROM keyward_usage_detail WHERE scope = '(other)'").get() as { requests: number }).requests).toBe(9_900);
      // Without a logger, one console warning (not one per minute nor per token).
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/usage\.maxScopesPerMinute/);
      warn.mockRestore();
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a bound out of range with INVALID_CONFIG naming it", () => {
    for (const maxScopesPerMinute of [0, 1.5, -1, 10_000_001]) {
      expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", usage: { maxScopesPerMinute } })).toThrow(/usage\.maxScopesPerMinute/);
    }
  });
});
