// An event loop stalled past a write's deadline (a loaded machine, a long GC, a
// synchronous SQLite wait of up to busyTimeoutMs) on Node: the usage write and
// the write of shared anomaly state under way are neither given up nor written
// twice at once, and `kw.close()` returns only once every write has ended.
import { mkdtempSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Keyward, MemoryStore, type TokenStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { afterAll, describe, expect, it } from "vitest";

/** Longer than DROPPED_AFTER_MS past the writes' deadline (WRITE_TIMEOUT_MS). */
const STALL_MS = 1_800;
const WRITE_TIMEOUT_MS = 300;

/** Blocks the event loop, as a synchronous SQLite wait does. */
function stall(): void {
  const end = performance.now() + STALL_MS;
  while (performance.now() < end);
}

interface Writes {
  started: number;
  running: number;
  maxRunning: number;
  /** Runs once, in a microtask after the next write started (its deadline armed by then). */
  onStart: (() => void) | null;
}

/**
 * Counts the calls of `method` running, each of which waits for a real I/O round trip (a
 * thread-pool `stat`, as a database server's reply: its answer arrives during a stall, and is
 * seen in the poll phase, after the timers of the loop's next turn) before the store's work.
 */
function instrument(store: TokenStore, method: "recordUsage" | "touchSeen"): Writes {
  const w: Writes = { started: 0, running: 0, maxRunning: 0, onStart: null };
  const inner = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store);
  Object.assign(store, {
    [method]: async (...args: unknown[]) => {
      w.started++;
      w.maxRunning = Math.max(w.maxRunning, ++w.running);
      const hook = w.onStart;
      w.onStart = null;
      if (hook) queueMicrotask(hook);
      try {
        await stat(import.meta.filename);
        return await inner(...args);
      } finally {
        w.running--;
      }
    },
  });
  return w;
}

/**
 * Lets the loop go on to its check phase, as a request's I/O callback does: after a stall there,
 * the loop's timers run before the I/O callbacks of answers that arrived during the stall (after
 * a stall in a timer callback, those callbacks would run first).
 */
const fromIo = () => new Promise<void>((resolve) => setImmediate(resolve));

const dir = mkdtempSync(join(tmpdir(), "kw-stall-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stores: [string, () => TokenStore & { close?: () => Promise<void> | void }][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SQLite file", () => sqliteStore(join(dir, `${Math.random().toString(36).slice(2)}.db`))],
];

// With the store's default (or any) busy timeout, a synchronous SQLite wait blocks the process this long.
describe.each(stores)("an event loop stalled past a write's deadline (%s)", (_, makeStore) => {
  async function usageSetup() {
    const store = makeStore();
    const writes = instrument(store, "recordUsage");
    const errors: unknown[] = [];
    const kw = new Keyward({
      store,
      prefix: "acme",
      usage: { flushIntervalMs: 60_000, writeTimeoutMs: WRITE_TIMEOUT_MS, onError: ({ error }) => errors.push(error) },
    });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (let i = 0; i < 5; i++) expect((await kw.check({ token })).ok).toBe(true);
    const allowed = async () => (await kw.usage.get(record.id, { granularity: "day" }))[0]?.allowed;
    return { store, writes, errors, kw, allowed };
  }

  it("a usage write whose answer came during the stall is not given up, nor written again beside it", async () => {
    const { store, writes, errors, kw, allowed } = await usageSetup();
    writes.onStart = stall;
    await fromIo();
    await kw.flush();
    expect(errors).toEqual([]);
    expect(kw.usage.stats()).toMatchObject({ written: 5, failedWrites: 0, dropped: 0, queued: 0 });
    await kw.close();
    expect(writes).toMatchObject({ running: 0, maxRunning: 1, started: 1 });
    expect(await allowed()).toBe(5);
    await store.close?.();
  });

  it("kw.close() right after a stall waits for the usage write under way, and writes it once", async () => {
    const { store, writes, errors, kw, allowed } = await usageSetup();
    let closing: Promise<void> | null = null;
    writes.onStart = () => {
      stall();
      closing = kw.close();
    };
    await fromIo();
    await kw.flush();
    await closing;
    expect(writes.running).toBe(0);
    expect(writes.maxRunning).toBe(1);
    expect(errors).toEqual([]);
    expect(kw.usage.stats()).toMatchObject({ written: 5, failedWrites: 0, dropped: 0, queued: 0 });
    expect(await allowed()).toBe(5);
    await store.close?.();
  });

  it("a write of shared anomaly state under way is not given up, and kw.close() waits for it", async () => {
    const store = makeStore();
    const writes = instrument(store, "touchSeen");
    const errors: unknown[] = [];
    const kinds: string[] = [];
    const kw = new Keyward({
      store,
      prefix: "acme",
      usage: { writeTimeoutMs: WRITE_TIMEOUT_MS },
      anomalies: { onError: (e) => errors.push(e), onAnomaly: (a) => kinds.push(a.kind) },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.check({ token, ip: "192.0.2.1" });
    await kw.flush();
    await kw.check({ token, ip: "192.0.2.2" });
    writes.onStart = stall;
    await fromIo();
    // A second flush waits behind the first, as the flush timer's or close() would.
    const flushes = [kw.flush(), kw.flush()];
    await kw.check({ token, ip: "192.0.2.3" });
    await Promise.all(flushes);
    await kw.close();
    expect(writes.running).toBe(0);
    expect(writes.maxRunning).toBe(1);
    expect(errors).toEqual([]);
    expect(kinds).toEqual(["new-ip", "new-ip"]);
    await store.close?.();
  });
});
