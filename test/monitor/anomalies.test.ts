import { setTimeout as sleep } from "node:timers/promises";
import { type Anomaly, type AnomalyOptions, Keyward, MemoryStore } from "keyward";
import { describe, expect, it } from "vitest";
import { AnomalyDetector } from "../../src/monitor/anomalies.js";
import { ev, T0 } from "../support/decision-event.js";

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

/**
 * Steps of the built-in iterations `run` makes (a Map's or Set's iterator, an array's search or splice):
 * the work of a call, counted, not timed.
 */
function countingSteps(run: () => void): number {
  let steps = 0;
  const protos = [Object.getPrototypeOf(new Map().entries()), Object.getPrototypeOf(new Set().values()), Object.getPrototypeOf([].values())];
  const nexts = protos.map((p) => p.next);
  const { findIndex, splice, indexOf } = Array.prototype;
  for (const [i, p] of protos.entries()) {
    p.next = function (this: unknown) {
      steps++;
      return nexts[i].call(this);
    };
  }
  Array.prototype.findIndex = function (this: unknown[], ...args: Parameters<typeof findIndex>) {
    const at = findIndex.apply(this, args);
    steps += at === -1 ? this.length : at + 1;
    return at;
  };
  Array.prototype.indexOf = function (this: unknown[], ...args: Parameters<typeof indexOf>) {
    const at = indexOf.apply(this, args);
    steps += at === -1 ? this.length : at + 1;
    return at;
  };
  Array.prototype.splice = function (this: unknown[], ...args: Parameters<typeof splice>) {
    steps += Math.max(0, this.length - (args[0] ?? 0));
    return splice.apply(this, args);
  } as typeof splice;
  try {
    run();
  } finally {
    for (const [i, p] of protos.entries()) p.next = nexts[i];
    Object.assign(Array.prototype, { findIndex, splice, indexOf });
  }
  return steps;
}

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
    // A filter field of another name is refused: a misspelt owner would list every account's alerts.
    expect(() => kw.anomalies.list({ ownr: "acct_2" } as never)).toThrow(expect.objectContaining({ code: "INVALID_INPUT", field: "options" }));
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

  it.each([
    ["shared through the store", {}],
    ["per process", { shared: false }],
  ] as const)("one public token's holder cannot flood the alerts: IPv6 by /64, a limit per token and kind, the list full (%s)", async (_, mode) => {
    const { kw, seen, set } = app({ spike: false, maxAlerts: 20, ...mode });
    const victim = await kw.tokens.create({ owner: "victim", kind: "secret" });
    await kw.check({ token: victim.token, ip: "203.0.113.1" });
    await kw.check({ token: victim.token, ip: "198.51.100.7" });
    await kw.flush();
    expect(kw.anomalies.list({ owner: "victim" })).toHaveLength(1);
    // Any publishable token, with its allowed Origin, from 1 100 addresses of one /64: one network, nothing new.
    const p = await kw.tokens.create({ owner: "someone", kind: "publishable", domains: ["example.com"] });
    const from = (ip: string) => kw.check({ token: p.token, ip, origin: "https://example.com" });
    for (let i = 0; i < 1_100; i++) await from(`2001:db8::${i.toString(16)}`);
    await kw.flush();
    expect(seen).toHaveLength(1);
    // From 1 100 networks: 10 alerts (the default limit in an hour), the rest counted on the last.
    for (let i = 1; i <= 1_100; i++) await from(`2001:db8:${i.toString(16)}::1`);
    await kw.flush();
    const own = kw.anomalies.list({ owner: "someone" });
    expect(seen).toHaveLength(11);
    expect(own.map((a) => a.detail.ip)).toEqual(Array.from({ length: 10 }, (_, i) => `2001:db8:${(i + 1).toString(16)}::1`));
    expect(own.map((a) => a.suppressed)).toEqual([...Array(9).fill(undefined), 1_090]);
    // A leak of the victim's token, then the flood the next hours: the victim's alerts stay in the full list.
    await kw.tokens.reportLeak(victim.token, { source: "scanner" });
    for (let h = 1; h <= 5; h++) {
      set(T0 + h * 3_600_000);
      for (let i = 0; i < 20; i++) await from(`2001:db8:${(h * 100 + i).toString(16)}::1`);
      await kw.flush();
    }
    expect(kw.anomalies.list()).toHaveLength(20);
    expect(kw.anomalies.list({ owner: "victim" }).map((a) => a.kind)).toEqual(["new-ip", "leaked"]);
    expect(seen).toHaveLength(62);
    await kw.close();
  });

  it("an IPv6 client is its /64; an IPv4-mapped one is its IPv4 address", () => {
    const d = new AnomalyDetector({ spike: false });
    for (const ip of ["2001:db8:0:1::1", "2001:DB8:0:1:ffff::9", "2001:db8:0:2::1", "203.0.113.1", "::ffff:203.0.113.1", "::ffff:cb00:7102"]) {
      d.observe(ev({ ip }));
    }
    expect(d.list().map((a) => a.detail.ip)).toEqual(["2001:db8:0:2::1", "203.0.113.1", "::ffff:cb00:7102"]);
  });

  it("when the list is full, drops the oldest alert of the token holding the most", () => {
    const d = new AnomalyDetector({ maxAlerts: 4, alertLimit: false, spike: false });
    d.leaked(T0, "tok_v", "victim", "scanner");
    for (let i = 0; i < 50; i++) d.observe(ev({ ip: `10.0.0.${i}` }));
    d.observe(ev({ tokenId: "tok_b", ip: "10.1.0.1" }));
    d.observe(ev({ tokenId: "tok_b", ip: "10.1.0.2" }));
    expect(d.list().map((a) => [a.tokenId, a.detail.ip ?? a.detail.source])).toEqual([
      ["tok_v", "scanner"],
      ["tok_a", "10.0.0.48"],
      ["tok_a", "10.0.0.49"],
      ["tok_b", "10.1.0.2"],
    ]);
  });

  it("a full list drops one alert per new one with constant work, not a scan of the list or of its tokens (counted)", () => {
    const max = 100_000;
    const d = new AnomalyDetector({ maxAlerts: max, maxTokens: 10, alertLimit: false, spike: false });
    for (let i = 0; i < max; i++) d.leaked(T0, `tok_${i}`, "acct_1", "scanner");
    const raises = 1_000;
    const steps = countingSteps(() => {
      for (let i = 0; i < raises; i++) d.leaked(T0 + i, `tok_new_${i % 10}`, "acct_2", "scanner");
    });
    // Before: each insert scanned every token's count and searched the list (400 million steps for these 1 000).
    expect(steps).toBeLessThan(raises * 20);
    expect(d.size().alerts).toBe(max);
    // The first 10 new alerts each pushed out one of the oldest tokens' (all tied at one alert); from then on a
    // new token held the most (two) and lost its oldest: each keeps its latest.
    expect(d.list({ tokenId: "tok_9" })).toEqual([]);
    expect(d.list({ tokenId: "tok_10" }).length).toBe(1);
    expect(d.list({ owner: "acct_2" }).map((a) => a.at - T0)).toEqual([990, 991, 992, 993, 994, 995, 996, 997, 998, 999]);
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
      // A code keyward never denies with would leave the detector silent.
      [{ denialBurst: { codes: ["SCOPE_DENY"] } }, "anomalies.denialBurst.codes"],
      [{ denialBurst: { codes: ["SCOPE_DENIED", "scope_denied"] } }, "anomalies.denialBurst.codes"],
      [{ denialBurst: { codes: ["OK"] } }, "anomalies.denialBurst.codes"],
      [{ denialBurst: { codes: ["toString"] } }, "anomalies.denialBurst.codes"],
      [{ idle: { afterMs: -1 } }, "anomalies.idle.afterMs"],
      [{ maxTokens: 0 }, "anomalies.maxTokens"],
      [{ alertLimit: { count: 0 } }, "anomalies.alertLimit.count"],
      [{ alertLimit: { windowMs: 10 } }, "anomalies.alertLimit.windowMs"],
      [{ newIp: "yes" as never }, "anomalies.newIp"],
      // An option of another name would leave the default in force.
      [{ spikes: { factor: 5 } } as never, "anomalies.spikes"],
      [{ spike: { factr: 5 } } as never, "anomalies.spike.factr"],
      [{ denialBurst: { code: ["SCOPE_DENIED"] } } as never, "anomalies.denialBurst.code"],
      [{ idle: { after: 60_000 } } as never, "anomalies.idle.after"],
      [{ alertLimit: { counts: 1 } } as never, "anomalies.alertLimit.counts"],
      [{ shared: { flushInterval: 10 } } as never, "anomalies.shared.flushInterval"],
    ];
    for (const [anomalies, field] of bad) {
      expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", anomalies })).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG", field }),
      );
    }
  });
});
