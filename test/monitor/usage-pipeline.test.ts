import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { type DecisionEvent, InvalidInputError, Keyward, MemoryStore, type UsageBatchKey, type UsageEvent, type UsageWriteError } from "keyward";
import { describe, expect, it, vi } from "vitest";
import { liveStringSizes, SNAPSHOT_TEST_TIMEOUT_MS } from "../support/heap.js";
import { unhandledRejectionsOf } from "../support/rejections.js";

const T0 = Date.UTC(2026, 0, 10, 12);

/** A MemoryStore whose usage writes can be held or made to fail. */
class GatedStore extends MemoryStore {
  gate: Promise<void> | null = null;
  fail = false;
  writes = 0;
  override async recordUsage(events: readonly UsageEvent[]): Promise<void> {
    this.writes++;
    if (this.gate) await this.gate;
    if (this.fail) throw new Error("disk full");
    return super.recordUsage(events);
  }
}

function app(store: MemoryStore, usage: Record<string, unknown> = {}) {
  return new Keyward({ store, prefix: "acme", env: "test", now: () => T0, usage });
}

/** A Keyward over `store` (usage written every minute unless told) collecting its usage write errors, and a secret token of acct_1. */
async function watched(store: MemoryStore, usage: Record<string, unknown> = {}, token: Record<string, unknown> = {}) {
  const errors: UsageWriteError[] = [];
  const kw = app(store, { flushIntervalMs: 60_000, ...usage, onError: (e: UsageWriteError) => errors.push(e) });
  const { token: issued, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", ...token });
  return { kw, errors, token: issued, record };
}

describe("usage pipeline", () => {
  it("without usage.onError, a store failing writes is not silent: one console warning per outage (the code, counts, no error text), and one for what close() drops", async () => {
    const warnings: string[] = [];
    const warn = vi.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void warnings.push(args.join(" ")));
    try {
      const store = new GatedStore();
      const kw = app(store, { flushIntervalMs: 60_000 });
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
      store.fail = true;
      for (let i = 0; i < 3; i++) {
        await kw.check({ token });
        await kw.flush().catch(() => {});
      }
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^keyward: a usage write failed \(STORE_UNAVAILABLE; events: 1, queued again: 1, dropped: 0\)\. .*usage\.onError/);
      store.fail = false;
      await kw.flush();
      store.fail = true;
      await kw.check({ token });
      await kw.flush().catch(() => {});
      expect(warnings).toHaveLength(2); // a new outage
      await kw.check({ token });
      await kw.close();
      expect(warnings).toHaveLength(3);
      expect(warnings[2]).toMatch(/events: 2, queued again: 0, dropped: 2\)/);
      expect(warnings.join("\n")).not.toMatch(/disk full|acct_1|tok_/);
      // Handled by the application: no warning.
      for (const handled of [{ usage: { onError: () => {} } }, { telemetry: { logger: () => {} } }]) {
        const kw2 = new Keyward({ store, prefix: "acme", ...handled });
        await kw2.check({ token });
        await kw2.close();
      }
      expect(warnings).toHaveLength(3);
    } finally {
      warn.mockRestore();
    }
  });

  it("without usage.onError, a store refusing every batch as INVALID_INPUT warns once until a write succeeds, not once per batch", async () => {
    const warnings: string[] = [];
    const warn = vi.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void warnings.push(args.join(" ")));
    try {
      const store = new GatedStore();
      let invalid = true;
      const write = store.recordUsage.bind(store);
      store.recordUsage = async (events) => {
        if (invalid) throw new InvalidInputError("events", "refused");
        return write(events);
      };
      const kw = app(store, { flushIntervalMs: 60_000 });
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
      for (let i = 0; i < 3; i++) {
        await kw.check({ token });
        await kw.flush().catch(() => {});
      }
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/\(INVALID_INPUT; events: 1, queued again: 0, dropped: 1\)/);
      // A write that succeeds ends it: the next refusal is told again.
      invalid = false;
      await kw.check({ token });
      await kw.flush();
      invalid = true;
      await kw.check({ token });
      await kw.flush().catch(() => {});
      expect(warnings).toHaveLength(2);
      await kw.close();
      expect(warnings).toHaveLength(2); // nothing left to drop
    } finally {
      warn.mockRestore();
    }
  });

  it("every decision yields an event, handed to onDecision after the request's tick", async () => {
    const events: DecisionEvent[] = [];
    const kw = app(new MemoryStore(), { onDecision: (e: DecisionEvent) => events.push(e) });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "publishable", credits: { limit: 10 } });
    const d = await kw.check({ token, scope: "core:read", cost: 3, ip: "203.0.113.9", origin: "https://app.example" });
    expect(d.ok).toBe(true);
    expect(events).toEqual([]); // not on the request path
    await kw.check({ token: "acme_sk_test_nope" });
    await sleep(5);
    expect(events).toEqual([
      {
        at: T0,
        tokenId: record.id,
        owner: "acct_1",
        ok: true,
        code: "OK",
        status: 200,
        scope: "core:read",
        cost: 3,
        pool: null,
        ip: "203.0.113.9",
        origin: "https://app.example",
        signed: false,
      },
      expect.objectContaining({ tokenId: null, owner: null, ok: false, code: "TOKEN_MALFORMED", cost: 0 }),
    ]);
    expect(JSON.stringify(events)).not.toContain(token);
    await kw.close();
  });

  it("a hook that edits the event it is given changes neither the usage written nor the bill", async () => {
    const errors: string[] = [];
    const store = new MemoryStore();
    const kw = new Keyward({
      store,
      prefix: "acme",
      env: "test",
      now: () => T0,
      usage: {
        onDecision: (e: DecisionEvent) => {
          const edit = e as { at: unknown; owner: unknown };
          edit.at = new Date(e.at).toISOString(); // a logger formatting the time in place
          edit.owner = `Customer ${e.owner}`;
        },
        onError: (x: UsageWriteError) => errors.push(String(x.error)),
      },
      anomalies: { onAnomaly: () => {} },
    });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 100 } });
    expect((await kw.check({ token, cost: 5 })).ok).toBe(true);
    expect((await kw.check({ token, cost: 2 })).ok).toBe(true);
    await sleep(5);
    await kw.flush();
    expect(errors).toEqual([]);
    expect(kw.usage.stats()).toMatchObject({ written: 2, dropped: 0, failedWrites: 0 });
    const bill = await kw.billing.usage({ from: T0, to: T0 + 3_600_000 });
    expect(bill).toEqual([expect.objectContaining({ owner: "acct_1", requests: 2, credits: 7 })]);
    expect((await kw.usage.get(record.id, { from: T0, to: T0 + 3_600_000 }))[0]).toMatchObject({ allowed: 2, credits: 7 });
    await kw.close();
  });

  it("kw.verify events carry the resolved IP, the Origin and whether the request was signed", async () => {
    const events: DecisionEvent[] = [];
    const kw = app(new MemoryStore(), { onDecision: (e: DecisionEvent) => events.push(e) });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.verify(new Request("https://api.test/x", { headers: { authorization: `Bearer ${token}` } }), { ip: "198.51.100.4", scope: ["core:read"] });
    await kw.verify(new Request("https://api.test/x", { headers: { "signature-input": 'sig1=("@method");keyid="tok_x"', signature: "sig1=:AAAA:" } }));
    await kw.close();
    expect(events[0]).toMatchObject({ ip: "198.51.100.4", origin: null, signed: false, scope: "core:read", code: "OK" });
    expect(events[1]).toMatchObject({ tokenId: null, signed: true, ok: false });
  });

  it("kw.check records the address in the canonical form kw.verify records (one client, one usage row per address)", async () => {
    const events: DecisionEvent[] = [];
    const store = new MemoryStore();
    const kw = app(store, { onDecision: (e: DecisionEvent) => events.push(e) });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const request = () => new Request("https://api.test/x", { headers: { authorization: `Bearer ${token}` } });
    const given = ["::ffff:203.0.113.9", "2001:DB8:0:0:0:0:0:1", "not an address"];
    for (const ip of given) {
      await kw.check({ token, ip });
      await kw.verify(request(), { ip });
    }
    await kw.close();
    expect(events.map((e) => e.ip)).toEqual(["203.0.113.9", "203.0.113.9", "2001:db8::1", "2001:db8::1", null, null]);
    expect(await kw.usage.lastUsed(record.id)).toEqual({ at: T0, ip: null });
  });

  it("writes in batches on a real timer, without kw.flush()", async () => {
    const store = new MemoryStore();
    const kw = app(store, { flushIntervalMs: 20 });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (let i = 0; i < 5; i++) await kw.check({ token });
    expect(kw.usage.stats()).toMatchObject({ queued: 5, written: 0 });
    await sleep(80);
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 5 });
    expect(await store.getUsage(record.id, { from: 0, to: T0 + 3_600_000, granularity: "hour" })).toEqual([
      { start: T0, allowed: 5, denied: 0, credits: 0 },
    ]);
    await kw.close();
  });

  it("never blocks a request on a slow store; overload drops are counted, nothing is lost on close", async () => {
    const store = new GatedStore();
    let open!: () => void;
    store.gate = new Promise((r) => {
      open = r;
    });
    const kw = app(store, { batchSize: 2, maxQueue: 4, flushIntervalMs: 60_000 });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    // The first batch of 2 is being written (held); 4 more fill the queue; 3 are dropped.
    for (let i = 0; i < 9; i++) expect((await kw.check({ token })).ok).toBe(true);
    expect(kw.usage.stats()).toMatchObject({ queued: 4, dropped: 3 });
    open();
    store.gate = null;
    await kw.close();
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 6, dropped: 3 });
    const [bucket] = await store.getUsage(record.id, { from: 0, to: T0 + 3_600_000, granularity: "hour" });
    expect(bucket?.allowed).toBe(6);
  });

  it("reports store errors to onError, keeps the events and writes them once the store is back", async () => {
    const store = new GatedStore();
    const { kw, errors, token, record } = await watched(store);
    store.fail = true;
    for (let i = 0; i < 3; i++) await kw.check({ token });
    await kw.flush();
    expect(errors).toEqual([{ error: expect.objectContaining({ code: "STORE_UNAVAILABLE" }), events: 3, requeued: 3 }]);
    expect(kw.usage.stats()).toMatchObject({ queued: 3, failedWrites: 1, dropped: 0 });
    store.fail = false;
    await kw.close();
    const [bucket] = await store.getUsage(record.id, { from: 0, to: T0 + 3_600_000, granularity: "hour" });
    expect(bucket?.allowed).toBe(3);
  });

  it("a store that fails at once is not sent a write every batch: after a failure, requests start none; the timer (or a flush) retries", async () => {
    const store = new GatedStore();
    const { kw, errors, token, record } = await watched(store, { batchSize: 10 });
    store.fail = true;
    for (let i = 0; i < 500; i++) await kw.check({ token });
    // The first full batch was written and failed; the 49 batches after it started no write (one each before).
    expect(store.writes).toBe(1);
    expect(errors).toHaveLength(1);
    store.fail = false;
    await kw.flush();
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 500, dropped: 0, failedWrites: 1 });
    // Written again, requests start writes of full batches as before.
    for (let i = 0; i < 10; i++) await kw.check({ token });
    await sleep(0);
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 510 });
    await kw.close();
    const [bucket] = await store.getUsage(record.id, { from: 0, to: T0 + 3_600_000, granularity: "hour" });
    expect(bucket?.allowed).toBe(510);
  });

  it("with flushIntervalMs 0, a failed write is retried once a second, not on every request", async () => {
    const store = new GatedStore();
    const kw = app(store, { flushIntervalMs: 0 });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    store.fail = true;
    for (let i = 0; i < 200; i++) await kw.check({ token });
    expect(store.writes).toBe(1);
    store.fail = false;
    // The retry timer (FAILED_WRITE_RETRY_MS) writes what was queued, with no flush.
    await expect.poll(() => kw.usage.stats().written, { timeout: 5_000, interval: 50 }).toBe(200);
    await kw.close();
  });

  it("an async onDecision or onError hook that rejects changes nothing: no unhandled rejection (which would end the process)", async () => {
    const store = new GatedStore();
    const called: string[] = [];
    const kw = app(store, {
      flushIntervalMs: 60_000,
      onDecision: async (e: DecisionEvent) => {
        called.push(e.code);
        throw new Error("analytics database down");
      },
      onError: async () => {
        called.push("onError");
        throw new Error("pager down");
      },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    store.fail = true;
    const rejections = await unhandledRejectionsOf(async () => {
      expect((await kw.check({ token })).ok).toBe(true);
      await kw.flush();
    });
    expect(called).toEqual(["OK", "onError"]);
    expect(rejections).toEqual([]);
    store.fail = false;
    await kw.close();
    expect(kw.usage.stats()).toMatchObject({ written: 1, dropped: 0 });
  });

  it("a batch the store took but whose reply was lost is written again and counted once, with the events queued meanwhile after it", async () => {
    // The store commits the batch, then the reply is lost (a connection cut after the commit): an error.
    class LostReplyStore extends MemoryStore {
      loseNext = false;
      override async recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void> {
        await super.recordUsage(events, batch);
        if (this.loseNext) {
          this.loseNext = false;
          throw new Error("Connection terminated unexpectedly");
        }
      }
    }
    const store = new LostReplyStore();
    const { kw, errors, token, record } = await watched(store, {}, { credits: { limit: 100 } });
    for (let i = 0; i < 3; i++) await kw.check({ token, cost: 2 });
    store.loseNext = true;
    await kw.flush();
    expect(errors).toEqual([{ error: expect.objectContaining({ code: "STORE_UNAVAILABLE" }), events: 3, requeued: 3 }]);
    expect(kw.usage.stats()).toMatchObject({ queued: 3, written: 0 });
    await kw.check({ token, cost: 2 });
    await kw.flush();
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 4, failedWrites: 1 });
    const [bucket] = await store.getUsage(record.id, { from: 0, to: T0 + 3_600_000, granularity: "hour" });
    expect(bucket).toMatchObject({ allowed: 4, credits: 8 });
    expect(await kw.billing.usage({ from: T0, to: T0 + 3_600_000 })).toMatchObject([{ owner: "acct_1", requests: 4, credits: 8 }]);
    await kw.close();
  });

  it("a flush during a long drain of a slow store that answers waits for it: no second write at once, nothing written after close() resolves", async () => {
    // Each write answers in 60 ms, well within writeTimeoutMs (2 s: a loaded machine's stalls stay within it; with 100 ms
    // a write's deadline fired before its answer after one, and close() wrote its batch again beside it): only the
    // drain as a whole (70 batches, 4.2 s) is long, past the first write's deadline and a second.
    class SlowStore extends MemoryStore {
      writing = 0;
      mostAtOnce = 0;
      override async recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void> {
        this.mostAtOnce = Math.max(this.mostAtOnce, ++this.writing);
        await sleep(60);
        await super.recordUsage(events, batch);
        this.writing--;
      }
    }
    const store = new SlowStore();
    const kw = app(store, { batchSize: 1, flushIntervalMs: 60_000, writeTimeoutMs: 2_000 });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (let i = 0; i < 70; i++) await kw.check({ token });
    // The first drain took the first event; the one after it takes the other 69 (4.1 s of writes).
    await sleep(150);
    await kw.close();
    expect(store.writing).toBe(0);
    expect(store.mostAtOnce).toBe(1);
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 70, dropped: 0, failedWrites: 0 });
    const [bucket] = await store.getUsage(record.id, { from: 0, to: T0 + 3_600_000, granularity: "hour" });
    expect(bucket).toMatchObject({ allowed: 70 });
  });

  it("a store that answers nothing: the flush timer starts no write while one is waiting, so close() waits for a few writes, not for every tick of the outage", async () => {
    const store = new GatedStore();
    const kw = app(store, { flushIntervalMs: 5, writeTimeoutMs: 60, batchSize: 10 });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    store.gate = new Promise(() => {});
    // An outage of 40 ticks of the timer, with traffic throughout.
    for (let i = 0; i < 20; i++) {
      await kw.check({ token });
      await sleep(10);
    }
    const before = store.writes;
    await kw.close();
    // What close() waited for: the write under way, its own, its retry (each failing at writeTimeoutMs).
    // Before, each tick queued one more write behind the hung one, and close() waited for every one of them.
    expect(store.writes - before).toBeLessThanOrEqual(3);
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 0, dropped: 20 });
  });

  it("close() retries a failed write once, then counts what is left as dropped; a decision after close() is dropped and counted", async () => {
    const store = new GatedStore();
    const { kw, errors, token, record } = await watched(store, { batchSize: 2 });
    store.fail = true;
    await kw.check({ token });
    await kw.close();
    // Two attempts: the first requeues, the last (no timer left) drops and says so.
    expect(errors.map((e) => [e.events, e.requeued])).toEqual([
      [1, 1],
      [1, 0],
    ]);
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 0, dropped: 1, failedWrites: 2 });
    store.fail = false;
    await kw.check({ token });
    await kw.flush();
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 0, dropped: 2 });
    expect(await store.getUsage(record.id, { from: 0, to: T0 + 3_600_000, granularity: "hour" })).toEqual([]);
  });

  it("close() drops every event left when its last write fails, not only the failed batch", async () => {
    const store = new GatedStore();
    const { kw, errors, token } = await watched(store, { batchSize: 2 });
    let open!: () => void;
    store.gate = new Promise((r) => {
      open = r;
    });
    store.fail = true;
    // 2 make a full batch (its write held), 3 more wait in the queue.
    for (let i = 0; i < 5; i++) await kw.check({ token });
    const closed = kw.close();
    open();
    store.gate = null;
    await closed;
    expect(errors.at(-1)).toMatchObject({ events: 5, requeued: 0 });
    expect(kw.usage.stats()).toMatchObject({ queued: 0, written: 0, dropped: 5 });
  });

  it("bounds what a request brings into an event, so a batch always stores", async () => {
    const store = new MemoryStore();
    const events: DecisionEvent[] = [];
    const kw = app(store, { flushIntervalMs: 60_000, onDecision: (e: DecisionEvent) => events.push(e) });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "publishable" });
    await kw.check({ token, ip: "x".repeat(100), origin: `https://${"a".repeat(5000)}.example` });
    await kw.close();
    expect(events[0]).toMatchObject({ ip: null, ok: true });
    expect(events[0]!.origin).toHaveLength(300);
    expect(kw.usage.stats()).toMatchObject({ written: 1, failedWrites: 0 });
    expect(await kw.usage.lastUsed(record.id)).toEqual({ at: T0, ip: null });
  });

  it("a queued event keeps the Origin it records, not the header it was cut from", async () => {
    // V8 keeps a cut string as a view of the whole: 100 000 queued events (usage.maxQueue) of a
    // token denied for its domains would each hold a whole Origin header instead of 300 characters.
    const store = new GatedStore();
    store.gate = new Promise(() => {}); // a store that does not answer: events stay queued
    const kw = app(store, { flushIntervalMs: 60_000 });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "publishable", domains: ["example.org"] });
    const tag = `origin${Math.random().toString(36).slice(2, 10)}`;
    // A function of its own, so that the test's frame holds none of the requests.
    const deniedWithOrigin = async (i: number) => {
      const origin = `https://${tag}-${i}-${"a".repeat(3000)}.example`;
      return (await kw.verify(new Request("https://api.example.com/v1/x", { headers: { authorization: `Bearer ${token}`, origin } }))).code;
    };
    for (let i = 0; i < 20; i++) expect(await deniedWithOrigin(i)).toBe("DOMAIN_DENIED");
    expect(kw.usage.stats()).toMatchObject({ queued: 20, written: 0 });
    // Each event's Origin, cut at 300 characters, is alive; no 3 000-character header is (one snapshot).
    const sizes = await liveStringSizes(`https://${tag}-`);
    expect(sizes.filter((n) => n > 290)).toHaveLength(20);
    expect(sizes.filter((n) => n > 3_000)).toEqual([]);
  }, SNAPSHOT_TEST_TIMEOUT_MS);

  it("an empty Origin or IP, or one of the wrong type, cannot make the store refuse a batch (real server)", async () => {
    const store = new MemoryStore();
    const { kw, errors, token, record } = await watched(store);
    const server = createServer(async (req, res) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
      const d = await kw.verify(new Request(`http://127.0.0.1${req.url}`, { headers }), { ip: req.socket.remoteAddress ?? null });
      res.end(d.code);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // A raw client sends the empty field as it is (Origin: followed by nothing).
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: "/", headers: { authorization: `Bearer ${token}`, origin: "" } }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve(text));
        });
        req.on("error", reject);
        req.end();
      });
      expect(body).toBe("OK"); // an empty Origin is no browser signal
      await kw.check({ token, ip: "", origin: "" });
      await kw.check({ token, ip: 7 as never, origin: 7 as never });
      await kw.flush();
      expect(errors).toEqual([]);
      expect(kw.usage.stats()).toMatchObject({ written: 3, failedWrites: 0, dropped: 0 });
      expect((await store.getUsage(record.id, { from: T0 - 3_600_000, to: T0 + 3_600_000, granularity: "hour" }))[0]).toMatchObject({ allowed: 2, denied: 1 });
    } finally {
      server.close();
      await kw.close();
    }
  });

  it("rejects bad usage options with INVALID_CONFIG naming them", () => {
    for (const [usage, field] of [
      [{ maxQueue: 0 }, "usage.maxQueue"],
      [{ onDecision: 1 }, "usage.onDecision"],
      [{ onError: "x" }, "usage.onError"],
    ] as const) {
      expect(() => app(new MemoryStore(), usage)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field }));
    }
  });
});
