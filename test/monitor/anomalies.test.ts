import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { type Anomaly, type AnomalyOptions, Keyward, MemoryStore } from "keyward";
import { AnomalyDetector } from "../../src/monitor/anomalies.js";
import type { DecisionEvent } from "../../src/monitor/events.js";

const T0 = Date.UTC(2026, 0, 10);
const MIN = 60_000;

function app(anomalies: AnomalyOptions) {
  let now = T0;
  const seen: Anomaly[] = [];
  const kw = new Keyward({
    store: new MemoryStore(),
    prefix: "acme",
    env: "test",
    now: () => now,
    anomalies: { ...anomalies, onAnomaly: (a) => seen.push(a) },
  });
  return { kw, seen, set: (t: number) => (now = t) };
}

const ev = (over: Partial<DecisionEvent>): DecisionEvent => ({
  at: T0,
  tokenId: "tok_a",
  owner: "acct_1",
  ok: true,
  code: "OK",
  status: 200,
  scope: null,
  cost: 0,
  ip: null,
  origin: null,
  signed: false,
  pool: null,
  ...over,
});

describe("anomaly alerts", () => {
  it.each([
    ["shared through the store", {}],
    ["per process", { shared: false }],
  ] as const)("a never-seen IP or origin on a token (after its first use), through onAnomaly and the list (%s)", async (_, mode) => {
    const { kw, seen } = app({ spike: false, ...mode });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "publishable" });
    await kw.check({ token, ip: "203.0.113.1", origin: "https://a.example" });
    await kw.check({ token, ip: "203.0.113.1", origin: "https://a.example" });
    await kw.check({ token, ip: "198.51.100.7", origin: "https://b.example" });
    await kw.flush();
    expect(seen.map((a) => [a.kind, a.detail])).toEqual([
      ["new-ip", { ip: "198.51.100.7" }],
      ["new-origin", { origin: "https://b.example" }],
    ]);
    expect(kw.anomalies.list({ tokenId: record.id, kind: "new-ip" })).toHaveLength(1);
    expect(kw.anomalies.list({ owner: "acct_2" })).toEqual([]);
    expect(JSON.stringify(seen)).not.toContain(token);
    await kw.close();
  });

  it("a spike over the EWMA baseline, once warmed up, once per interval", async () => {
    const { kw, seen, set } = app({ newIp: false, spike: { intervalMs: MIN, alpha: 0.5, factor: 3, minCount: 10, warmupIntervals: 3 } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (let m = 0; m < 4; m++) {
      set(T0 + m * MIN);
      for (let i = 0; i < 5; i++) await kw.check({ token });
    }
    set(T0 + 4 * MIN);
    for (let i = 0; i < 15; i++) await kw.check({ token });
    await sleep(5);
    expect(seen).toEqual([]); // 15 ≤ 3 × 5
    for (let i = 0; i < 10; i++) await kw.check({ token });
    await sleep(5);
    expect(seen.map((a) => [a.kind, a.detail])).toEqual([["spike", { count: 16, baseline: 5 }]]);
    await kw.close();
  });

  it("a burst of denials on one token, once per window", async () => {
    const { kw, seen, set } = app({ denialBurst: { count: 3, windowMs: MIN } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", ips: ["192.0.2.0/24"] });
    await kw.check({ token, ip: "203.0.113.1" });
    set(T0 + 2 * MIN); // outside the window of the first
    await kw.check({ token, ip: "203.0.113.1" });
    await kw.check({ token, scope: "premium:read", ip: "192.0.2.1" });
    await sleep(5);
    expect(seen).toEqual([]);
    await kw.check({ token, ip: "203.0.113.2" });
    await kw.check({ token, ip: "203.0.113.3" });
    await sleep(5);
    expect(seen.map((a) => [a.kind, a.detail])).toEqual([["denial-burst", { denials: 3, codes: ["IP_DENIED", "SCOPE_DENIED"] }]]);
    await kw.close();
  });

  it.each([
    ["shared through the store", {}],
    ["per process", { shared: false }],
  ] as const)("use after a long idle period, and a secret token from a browser (%s)", async (_, mode) => {
    const { kw, seen, set } = app({ idle: { afterMs: 7 * 86_400_000 }, ...mode });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.check({ token });
    set(T0 + 6 * 86_400_000);
    await kw.check({ token });
    set(T0 + 14 * 86_400_000);
    await kw.check({ token });
    await kw.flush();
    await kw.check({ token, origin: "https://evil.example", secFetchMode: "cors", secFetchSite: "cross-site" });
    await kw.close();
    expect(seen.map((a) => [a.kind, a.detail])).toEqual([
      ["idle-use", { idleMs: 8 * 86_400_000 }],
      ["secret-from-browser", {}],
    ]);
  });

  it("keeps bounded state: tokens, IPs per token and alerts (counted)", () => {
    const d = new AnomalyDetector({ maxTokens: 100, maxSeenPerToken: 8, maxAlerts: 50, spike: false });
    for (let i = 0; i < 5_000; i++) d.observe(ev({ tokenId: `tok_${i % 100}`, ip: `10.0.${i % 7}.${i % 251}` }));
    for (let i = 0; i < 5_000; i++) d.observe(ev({ tokenId: `tok_x${i}`, ip: "10.9.9.9" }));
    expect(d.size().tokens).toBe(100);
    expect(d.size().seen).toBeLessThanOrEqual(100 * 8);
    expect(d.size().alerts).toBe(50);
  });

  it("forgets the token seen least recently first", () => {
    const d = new AnomalyDetector({ maxTokens: 3, spike: false });
    for (const id of ["tok_a", "tok_b", "tok_c", "tok_a", "tok_d"]) d.observe(ev({ tokenId: id, ip: "10.0.0.1" }));
    // tok_b was the least recently seen: forgotten, its next IP is its first.
    for (const id of ["tok_a", "tok_b"]) d.observe(ev({ tokenId: id, ip: "10.0.0.2" }));
    expect(d.list({ kind: "new-ip" }).map((a) => a.tokenId)).toEqual(["tok_a"]);
    expect(d.size().tokens).toBe(3);
  });

  it("refuses options out of range with INVALID_CONFIG naming them", () => {
    const bad: [AnomalyOptions, string][] = [
      [{ spike: { alpha: 0 } }, "anomalies.spike.alpha"],
      [{ spike: { alpha: 1.5 } }, "anomalies.spike.alpha"],
      [{ spike: { factor: Number.NaN } }, "anomalies.spike.factor"],
      [{ spike: { intervalMs: 10 } }, "anomalies.spike.intervalMs"],
      [{ denialBurst: { count: 1 } }, "anomalies.denialBurst.count"],
      [{ denialBurst: { codes: [] } }, "anomalies.denialBurst.codes"],
      [{ idle: { afterMs: -1 } }, "anomalies.idle.afterMs"],
      [{ maxTokens: 0 }, "anomalies.maxTokens"],
      [{ newIp: "yes" as never }, "anomalies.newIp"],
    ];
    for (const [anomalies, field] of bad) {
      expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", anomalies })).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG", field }),
      );
    }
  });
});
