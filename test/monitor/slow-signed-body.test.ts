// A signed body sent slowly, end to end: a real Express server on 127.0.0.1 and a node:http client that
// sends the body in two parts, with fast requests of the same token between them. The decision's time is
// when the request began (the instance's clock, here one the test moves on by minutes while the body is
// on its way); it reaches the monitors when the body has come, after the fast ones. docs/monitoring.md:
// such a decision counts in the current minute of usage.maxScopesPerMinute (slow requests do not lift a
// token's bound) and in the current denial window (a slow denial does not clear a denial burst).
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { describe, expect, it } from "vitest";
import { createSigner } from "../../src/client/index.js";
import { keywardExpress } from "../../src/express/index.js";
import { type Anomaly, type DecisionEvent, Keyward, MemoryStore } from "../../src/index.js";
import { ed25519KeyPair } from "../client/helpers.js";

const MIN = 60_000;
/** How long before the fast requests the slow ones began: well within signatures.bodyTimeoutMs's 10 minutes at most. */
const SLOW_BY = 10 * MIN;
const SCOPES = ["a", "b", "c", "d", "e", "f"];

/** An Express app guarding POST /datasets/<s> (scope datasets/<s>:write) and POST /admin (admin:write), on a clock the test moves. */
async function start(options: { maxScopesPerMinute?: number; denialBurst?: { count: number; windowMs: number } }) {
  let now = Date.now();
  const decisions: DecisionEvent[] = [];
  const anomalies: Anomaly[] = [];
  const kw = new Keyward({
    store: new MemoryStore(),
    prefix: "acme",
    now: () => now,
    usage: { flushIntervalMs: 60_000, maxScopesPerMinute: options.maxScopesPerMinute, onDecision: (e) => decisions.push(e) },
    anomalies: { denialBurst: options.denialBurst ?? false, spike: false, newIp: false, newOrigin: false, onAnomaly: (a) => anomalies.push(a) },
    telemetry: { logger: () => {} },
  });
  const pair = ed25519KeyPair();
  const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["datasets/*:write"], signing: { alg: "ed25519", publicKey: pair.publicKey } });
  // Requests whose head has come (the guard behind reads the decision's time at once).
  const arrived: string[] = [];
  const app = express();
  app.use((req, _res, next) => {
    arrived.push(req.url);
    next();
  });
  const guard = keywardExpress(kw);
  for (const s of SCOPES) app.post(`/datasets/${s}`, guard.requireToken({ scope: `datasets/${s}:write` }), (_req, res) => res.json({ scope: s }));
  app.post("/admin", guard.requireToken({ scope: "admin:write" }), (_req, res) => res.json({ admin: true }));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed });

  /** A fast POST with the token as a bearer: its status. */
  const fast = async (path: string) => (await fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}", signal: AbortSignal.timeout(10_000) })).status;

  /**
   * A signed POST whose body comes in two parts: the first with the head, the second when `finish` is
   * called. Resolves once the server has the head (and so the decision's time); `finish` resolves with the status.
   */
  const slow = async (path: string): Promise<{ finish(): Promise<number> }> => {
    const body = JSON.stringify({ pad: "x".repeat(200) });
    const signed = await signer.sign(new Request(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body }));
    let rest = () => {};
    const status = new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { method: "POST", headers: { ...Object.fromEntries(signed.headers), "content-length": String(body.length) } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.write(body.slice(0, 100));
      rest = () => req.end(body.slice(100));
    });
    const seen = arrived.length;
    while (!arrived.slice(seen).includes(path)) await new Promise((r) => setTimeout(r, 5));
    // The guard runs in the middleware chain after the head: let it read the clock before the test moves it.
    await new Promise((r) => setTimeout(r, 20));
    return {
      finish() {
        rest();
        return status;
      },
    };
  };

  return {
    kw,
    id: record.id,
    decisions,
    anomalies,
    fast,
    slow,
    at: () => now,
    /** Waits for the first `n` decisions to reach the hooks and the detector (they do after the request's tick). */
    async observed(n: number) {
      while (decisions.length < n) await new Promise((r) => setTimeout(r, 5));
    },
    advance: (ms: number) => {
      now += ms;
    },
    async close() {
      await kw.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("a signed body sent slowly, with fast requests between (real server and client)", () => {
  it("counts in the current minute of usage.maxScopesPerMinute: three slow requests begun 10 minutes before do not lift the token's bound of 2 scopes", async () => {
    const app = await start({ maxScopesPerMinute: 2 });
    try {
      const began = app.at();
      const slow = [await app.slow("/datasets/c"), await app.slow("/datasets/d"), await app.slow("/datasets/e")];
      app.advance(SLOW_BY);
      expect([await app.fast("/datasets/a"), await app.fast("/datasets/b")]).toEqual([200, 200]);
      // Each is still served: the bound only says under which scope the request is recorded.
      for (const s of slow) expect(await s.finish()).toBe(200);
      expect(await app.fast("/datasets/f")).toBe(200);
      await app.observed(6);
      // The slow ones were decided when they began, and reached the monitors after the fast ones.
      expect(app.decisions.map((e) => [e.scope, e.at - began])).toEqual([
        ["datasets/a:write", SLOW_BY],
        ["datasets/b:write", SLOW_BY],
        ["datasets/c:write", 0],
        ["datasets/d:write", 0],
        ["datasets/e:write", 0],
        ["datasets/f:write", SLOW_BY],
      ]);
      await app.kw.flush();
      const rows = await app.kw.usage.get(app.id, { from: began - 2 * MIN, to: began + SLOW_BY + 2 * MIN, granularity: "minute", groupBy: "scope" });
      // Two scopes kept and the rest under (other): every request counted. Before (each slow one and the fast one
      // after it started a minute afresh): a, b, c, d and f kept.
      expect(new Set(rows.map((r) => r.key))).toEqual(new Set(["datasets/a:write", "datasets/b:write", "(other)"]));
      expect(rows.reduce((n, r) => n + r.allowed, 0)).toBe(6);
      expect(app.kw.usage.stats().scopesCapped).toBe(4);
    } finally {
      await app.close();
    }
  });

  it("counts in the current denial window: a slow denial between fast ones does not clear the burst they make", async () => {
    const app = await start({ denialBurst: { count: 4, windowMs: MIN } });
    try {
      const began = app.at();
      const slow = await app.slow("/admin");
      app.advance(SLOW_BY);
      expect([await app.fast("/admin"), await app.fast("/admin")]).toEqual([403, 403]);
      expect(await slow.finish()).toBe(403);
      await app.observed(3);
      expect(app.anomalies).toEqual([]);
      expect(await app.fast("/admin")).toBe(403);
      await app.observed(4);
      expect(app.decisions.map((e) => [e.code, e.signed, e.at - began])).toEqual([
        ["SCOPE_DENIED", false, SLOW_BY],
        ["SCOPE_DENIED", false, SLOW_BY],
        ["SCOPE_DENIED", true, 0],
        ["SCOPE_DENIED", false, SLOW_BY],
      ]);
      // Four denials of the token within the window: one burst. Before: none (the slow one, ten minutes before
      // the window, was taken as the end of it, and the denials before it were dropped).
      expect(app.anomalies.map((a) => [a.kind, a.tokenId, a.detail.denials])).toEqual([["denial-burst", app.id, 4]]);
    } finally {
      await app.close();
    }
  });

  it("counts a slow denial when its body came: two that come minutes apart, after a fast one, are no burst of 3 in a minute", async () => {
    const app = await start({ denialBurst: { count: 3, windowMs: MIN } });
    try {
      const first = await app.slow("/admin");
      app.advance(MIN);
      const second = await app.slow("/admin");
      app.advance(SLOW_BY - MIN);
      expect(await app.fast("/admin")).toBe(403);
      await app.observed(1);
      app.advance(2 * MIN);
      expect(await first.finish()).toBe(403);
      await app.observed(2);
      app.advance(2 * MIN);
      expect(await second.finish()).toBe(403);
      await app.observed(3);
      expect(app.decisions.map((e) => e.code)).toEqual(["SCOPE_DENIED", "SCOPE_DENIED", "SCOPE_DENIED"]);
      // Begun 10 and 9 minutes before the fast one, they came 2 and 4 minutes after it. Before: all three counted at
      // the fast one's time, a burst.
      expect(app.anomalies).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
