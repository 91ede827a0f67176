import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { Keyward, type KeywardOptions, type LogRecord, MemoryStore, type MeterLike, type StoredToken, type TracerLike } from "keyward";
import { keywardHono } from "keyward/hono";
import { describe, expect, it } from "vitest";
import { otel } from "../support/otel.js";
import { unhandledRejectionsOf } from "../support/rejections.js";

/** A real MemoryStore whose lookups by hash fail while `down`, like a database that went away. */
class Outage extends MemoryStore {
  down = false;
  override async findByHash(hash: string): Promise<StoredToken | null> {
    if (this.down) throw new Error("connection lost");
    return super.findByHash(hash);
  }
}

/** Checks a live token, then the same token with the store down, by `kw.check` and `kw.verify`. */
async function decideThroughOutage(telemetry: KeywardOptions["telemetry"]) {
  const store = new Outage();
  const kw = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 }, usage: { enabled: false }, ...(telemetry && { telemetry }) });
  const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
  const request = () => new Request("https://api.test/x", { headers: { authorization: `Bearer ${token}` } });
  const codes = [(await kw.check({ token })).code, (await kw.verify(request())).code];
  store.down = true;
  codes.push((await kw.check({ token })).code, (await kw.verify(request())).code);
  await kw.close();
  return codes;
}

describe("telemetry (OpenTelemetry SDK in-memory exporters)", () => {
  it("metrics: decisions by code, latency, cache hit ratio, store errors, usage queue depth", async () => {
    const o = otel();
    const store = new MemoryStore();
    const kw = new Keyward({
      store,
      prefix: "acme",
      usage: { flushIntervalMs: 3_600_000 },
      telemetry: { meter: o.meter, latencySampleEvery: 2 },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (let i = 0; i < 4; i++) await kw.check({ token, scope: "core:read" });
    await kw.check({ token, scope: "premium:read" });
    await kw.verify(new Request("https://api.test/x"));
    const m = await o.metrics();
    const decisions = m.get("keyward.decisions")!;
    expect(decisions).toEqual(
      expect.arrayContaining([
        { value: 4, attributes: { "keyward.code": "OK", "keyward.ok": true } },
        { value: 1, attributes: { "keyward.code": "SCOPE_DENIED", "keyward.ok": false } },
        { value: 1, attributes: { "keyward.code": "TOKEN_MISSING", "keyward.ok": false } },
      ]),
    );
    const latency = m.get("keyward.decision.duration")!;
    // One decision in two is timed.
    expect((latency[0]!.value as { count: number }).count).toBe(3);
    // The first lookup misses, the next four hit.
    expect(m.get("keyward.cache.hit_ratio")).toEqual([{ value: 4 / 5, attributes: {} }]);
    expect(m.get("keyward.usage.queue_depth")).toEqual([{ value: 5, attributes: {} }]);
    await kw.close();
  });

  it("metrics: the cache hit ratio counts lookups only, not strings refused by their format", async () => {
    const o = otel();
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { meter: o.meter } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const other = await new Keyward({ store: new MemoryStore(), prefix: "other" }).tokens.create({ owner: "o", kind: "secret" });
    // One lookup goes to the store, the next two are answered by the cache.
    for (let i = 0; i < 3; i++) expect((await kw.check({ token })).ok).toBe(true);
    // Garbage, and another application's token: refused by the format check, never looked up.
    for (let i = 0; i < 97; i++) expect((await kw.check({ token: i % 2 ? `not-a-token-${i}` : other.token })).code).toBe("TOKEN_MALFORMED");
    expect((await o.metrics()).get("keyward.cache.hit_ratio")).toEqual([{ value: 2 / 3, attributes: {} }]);
    await kw.close();
  });

  it("metrics: usage events dropped at maxQueue and hook decisions dropped, by queue", async () => {
    const o = otel();
    const kw = new Keyward({
      store: new MemoryStore(),
      prefix: "acme",
      usage: { flushIntervalMs: 3_600_000, maxQueue: 2, onDecision: () => {} },
      telemetry: { meter: o.meter },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    // Decided within one macrotask (MemoryStore answers in microtasks): the hooks, delivered on a timer, get 2 of 5.
    await Promise.all(Array.from({ length: 5 }, () => kw.check({ token })));
    expect(kw.usage.stats()).toMatchObject({ queued: 2, dropped: 3, droppedHookEvents: 3 });
    const m = await o.metrics();
    expect(m.get("keyward.usage.dropped")).toEqual(
      expect.arrayContaining([
        { value: 3, attributes: { "keyward.queue": "usage" } },
        { value: 3, attributes: { "keyward.queue": "hooks" } },
      ]),
    );
    await kw.close();
  });

  it("store errors are counted and logged; spans carry the code and public ids only", async () => {
    const o = otel();
    const logs: LogRecord[] = [];
    class Failing extends MemoryStore {
      down = false;
      override async recordUsage(): Promise<void> {
        throw new Error("disk full");
      }
      override async findByHash(hash: string) {
        if (this.down) throw new Error("connection lost");
        return super.findByHash(hash);
      }
    }
    const store = new Failing();
    const kw = new Keyward({
      store,
      prefix: "acme",
      cache: { maxEntries: 0 },
      usage: { flushIntervalMs: 3_600_000 },
      telemetry: { meter: o.meter, tracer: o.tracer, logger: (r) => logs.push(r) },
    });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.check({ token });
    store.down = true;
    expect((await kw.check({ token })).code).toBe("STORE_UNAVAILABLE");
    await kw.flush();
    const m = await o.metrics();
    expect(m.get("keyward.store.errors")).toEqual(
      expect.arrayContaining([
        { value: 1, attributes: { "keyward.source": "request" } },
        { value: 1, attributes: { "keyward.source": "usage" } },
      ]),
    );
    const spans = o.spans();
    expect(spans.map((s) => [s.name, s.attributes["keyward.code"], s.status.code])).toEqual([
      ["keyward.check", "OK", 1],
      ["keyward.check", "STORE_UNAVAILABLE", 2],
    ]);
    expect(spans[0]!.attributes).toMatchObject({ "keyward.token.id": record.id, "keyward.owner": "acct_1", "http.response.status_code": 200 });
    expect(logs.map((l) => [l.level, l.event])).toEqual([
      ["debug", "decision"],
      ["warn", "store.unavailable"],
      ["error", "usage.write_failed"],
    ]);
    // Never a secret: not the token, not its hash.
    const all = JSON.stringify([spans.map((s) => s.attributes), logs, [...m.entries()]]);
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.slice(-20));
    await kw.close();
  });

  it("what clients choose (tokens, paths, origins, scopes, signatures) makes no metric series nor span attribute of its own: both are closed sets", async () => {
    const o = otel();
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { meter: o.meter, tracer: o.tracer } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "publishable", domains: ["example.com"] });
    const app = new Hono();
    app.get("/*", keywardHono(kw).requireToken({ scope: "core:read" }), (c) => c.text("ok"));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (let i = 0; i < 300; i++) {
        const headers: Record<string, string> = { origin: i % 2 ? "https://example.com" : `https://o${i}.example.com` };
        if (i % 3 === 0) headers.authorization = `Bearer acme_sk_live_${i}junk`;
        else if (i % 3 === 1) headers.authorization = `Bearer ${token}`;
        else Object.assign(headers, { "signature-input": `s${i}=("@method");keyid="tok_${i}"`, signature: `s${i}=:AAAA:` });
        await (await fetch(`${url}/p${i}?q=${i}`, { headers })).arrayBuffer();
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    await kw.flush();
    const m = await o.metrics();
    const series = m.get("keyward.decisions")!;
    expect(series.map((p) => [p.attributes["keyward.code"], p.value]).sort()).toEqual([
      ["DOMAIN_DENIED", 50],
      ["OK", 50],
      ["SIGNATURE_INVALID", 100],
      ["TOKEN_MALFORMED", 100],
    ]);
    const keys = new Set(o.spans().flatMap((span) => Object.keys(span.attributes)));
    expect([...keys].sort()).toEqual(["http.response.status_code", "keyward.code", "keyward.ok", "keyward.owner", "keyward.token.id"]);
    const values = new Set(o.spans().flatMap((span) => [span.attributes["keyward.token.id"], span.attributes["keyward.owner"]]));
    expect(values).toEqual(new Set([undefined, expect.stringMatching(/^tok_/), "acct_1"]));
    await kw.close();
  });

  it("telemetry with nothing to report to is a no-op: a store outage is still STORE_UNAVAILABLE, never a rejection", async () => {
    // `{}`, or a meter and a tracer left undefined when OpenTelemetry is switched off by the environment.
    for (const telemetry of [{}, { latencySampleEvery: 4 }, { latencySampleEvery: 1 }, { meter: undefined, tracer: undefined, logger: undefined }]) {
      expect(await decideThroughOutage(telemetry)).toEqual(["OK", "OK", "STORE_UNAVAILABLE", "STORE_UNAVAILABLE"]);
    }
  });

  it("telemetry: {} behind a real HTTP server: a store outage is 503 with Retry-After, not a 500", async () => {
    const store = new Outage();
    const kw = new Keyward({ store, prefix: "acme", telemetry: {} });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    store.down = true;
    const app = new Hono();
    app.get("/x", keywardHono(kw).requireToken(), (c) => c.text("ok"));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).not.toBeNull();
      expect(await res.json()).toMatchObject({ code: "STORE_UNAVAILABLE" });
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await kw.close();
    }
  });

  it("a meter, tracer or logger that throws changes no decision", async () => {
    const boom = () => {
      throw new Error("exporter down");
    };
    const instrument = { add: boom, record: boom, addCallback: () => {} };
    const meter: MeterLike = {
      createCounter: () => instrument,
      createHistogram: () => instrument,
      createObservableGauge: () => instrument,
      createObservableCounter: () => instrument,
    };
    const failingSpans: TracerLike = { startSpan: () => ({ setAttributes: boom, setStatus: boom, end: boom }) };
    for (const telemetry of [
      { meter },
      { meter, latencySampleEvery: 1 },
      { tracer: { startSpan: boom } },
      { tracer: failingSpans },
      { logger: boom },
      { meter, tracer: failingSpans, logger: boom },
    ]) {
      expect(await decideThroughOutage(telemetry)).toEqual(["OK", "OK", "STORE_UNAVAILABLE", "STORE_UNAVAILABLE"]);
    }
  });

  it("an async logger that rejects changes nothing: no unhandled rejection (which would end the process)", async () => {
    const events: string[] = [];
    const logger = async (r: LogRecord) => {
      events.push(r.event);
      throw new Error("log shipper down");
    };
    const rejections = await unhandledRejectionsOf(async () => {
      expect(await decideThroughOutage({ logger })).toEqual(["OK", "OK", "STORE_UNAVAILABLE", "STORE_UNAVAILABLE"]);
    });
    expect(events).toEqual(["decision", "decision", "store.unavailable", "store.unavailable"]);
    expect(rejections).toEqual([]);
  });

  it("without telemetry nothing is measured (a no-op), and bad telemetry options are INVALID_CONFIG", async () => {
    expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { meter: {} as never } })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "telemetry.meter" }),
    );
    expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { logger: 1 as never } })).toThrow(
      expect.objectContaining({ field: "telemetry.logger" }),
    );
    expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { latencySampleEvery: 0 } })).toThrow(
      expect.objectContaining({ field: "telemetry.latencySampleEvery" }),
    );
  });
  it("instances sharing one meter report their sum, a closed one's counts kept (a cumulative counter never goes back), one callback per instrument", async () => {
    const o = otel();
    // The callbacks the meter holds: each keeps what it reads alive, and runs at every collection.
    let callbacks = 0;
    const meter: MeterLike = {
      createCounter: (n, opts) => o.meter.createCounter(n, opts),
      createHistogram: (n, opts) => o.meter.createHistogram(n, opts),
      createObservableGauge: (n, opts) => counted(o.meter.createObservableGauge(n, opts)),
      createObservableCounter: (n, opts) => counted(o.meter.createObservableCounter(n, opts)),
    };
    const counted = (instrument: ReturnType<MeterLike["createObservableGauge"]>) => ({
      addCallback: (cb: Parameters<ReturnType<MeterLike["createObservableGauge"]>["addCallback"]>[0]) => {
        callbacks++;
        instrument.addCallback(cb);
      },
    });
    const decisions = async () => ((await o.metrics()).get("keyward.decisions") ?? []).filter((p) => p.attributes["keyward.code"] === "OK").map((p) => p.value);
    const open = async (n: number) => {
      const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { meter } });
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
      for (let i = 0; i < n; i++) await kw.check({ token });
      return kw;
    };
    const a = await open(5);
    const b = await open(3);
    // Two live instances (two prefixes, two environments in one process): one series, both counted.
    expect(await decisions()).toEqual([8]);
    await a.close();
    await b.close();
    const c = await open(2);
    expect(await decisions()).toEqual([10]);
    // One callback per observable instrument (4), not per instance made.
    expect(callbacks).toBe(4);
    await c.close();
  });

  it("an instance never closed is not kept alive by the meter it shares; what it counted until the last collection stays counted", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const o = otel();
    const stats = async () => {
      const m = await o.metrics();
      const ok = (m.get("keyward.decisions") ?? []).find((p) => p.attributes["keyward.code"] === "OK")?.value;
      return { ok, queued: (m.get("keyward.usage.queue_depth") ?? [])[0]?.value };
    };
    const gone = new FinalizationRegistry<string>((name) => collected.push(name));
    const collected: string[] = [];
    const kept = new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { meter: o.meter }, usage: { flushIntervalMs: 0 } });
    // Instances made and dropped without close(), each with its own store (nothing else holds them).
    await (async () => {
      for (let i = 0; i < 5; i++) {
        const store = new MemoryStore();
        const kw = new Keyward({ store, prefix: "acme", telemetry: { meter: o.meter }, usage: { flushIntervalMs: 0 } });
        const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
        await kw.check({ token });
        await kw.flush();
        // The store, which the instance's verifier holds (its caches, its queue): gone with it, or kept with it.
        gone.register(store, `kw${i}`);
      }
    })();
    expect((await stats()).ok).toBe(5);
    for (let i = 0; i < 10 && collected.length < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    // Before: none was collected (the meter's callbacks read each instance's counters through it).
    expect(collected.sort()).toEqual(["kw0", "kw1", "kw2", "kw3", "kw4"]);
    const { token } = await kept.tokens.create({ owner: "acct_1", kind: "secret" });
    await kept.check({ token });
    // A cumulative counter never goes back: the collected instances' decisions are still counted.
    expect(await stats()).toMatchObject({ ok: 6, queued: 0 });
    await kept.close();
  });
});
