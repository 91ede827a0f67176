// Anomaly state shared across a fleet: two instances, one store.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { guardStore, Keyward, MemoryStore, type SeenEntry } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { AnomalyDetector } from "../../src/monitor/anomalies.js";
import { fleetScenario, PER_PROCESS_ALERTS, SHARED_ALERTS } from "../support/anomaly-fleet.js";
import { unhandledRejectionsOf } from "../support/rejections.js";

describe("anomaly state shared across instances", () => {
  it("MemoryStore: two instances on one store report each alert once", async () => {
    const store = new MemoryStore();
    expect(await fleetScenario([store, store])).toEqual(SHARED_ALERTS);
  });

  it("SQLite: two instances on one database file report each alert once; per process, each reports its own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kw-anomaly-"));
    try {
      for (const [mode, expected] of [
        [{}, SHARED_ALERTS],
        [{ shared: false as const }, PER_PROCESS_ALERTS],
      ] as const) {
        const file = join(dir, `${expected.length}.db`);
        const [a, b] = [sqliteStore(file), sqliteStore(file)];
        expect(await fleetScenario([a, b], mode)).toEqual(expected);
        await a.close();
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes sightings in batches: 1 000 checks of one token from one IP send 2 sightings", async () => {
    const sent: SeenEntry[] = [];
    class Counting extends MemoryStore {
      override touchSeen(entries: readonly SeenEntry[], max: number) {
        sent.push(...entries);
        return super.touchSeen(entries, max);
      }
    }
    const kw = new Keyward({ store: new Counting(), prefix: "acme", env: "test", anomalies: {} });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (let i = 0; i < 1000; i++) await kw.check({ token, ip: "192.0.2.1" });
    await kw.flush();
    expect(sent.map((e) => e.kind)).toEqual(["use", "ip"]);
    await kw.close();
  });

  it("a failing store: alerts are decided per process, and the error reaches onError", async () => {
    class Failing extends MemoryStore {
      override async touchSeen(): Promise<(number | null)[]> {
        throw new Error("disk on fire");
      }
    }
    const errors: unknown[] = [];
    const kinds: string[] = [];
    const kw = new Keyward({
      store: new Failing(),
      prefix: "acme",
      env: "test",
      anomalies: { onError: (e) => errors.push(e), onAnomaly: (a) => kinds.push(a.kind) },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.check({ token, ip: "192.0.2.1" });
    await kw.check({ token, ip: "192.0.2.2" });
    await kw.flush();
    expect(kinds).toEqual(["new-ip"]);
    expect(errors.length).toBeGreaterThan(0);
    expect((errors[0] as { code?: string }).code).toBe("STORE_UNAVAILABLE");
    await kw.close();
  });

  it("an async onAnomaly or onError hook that rejects changes nothing: no unhandled rejection (which would end the process)", async () => {
    class Failing extends MemoryStore {
      override async touchSeen(): Promise<(number | null)[]> {
        throw new Error("disk on fire");
      }
    }
    const called: string[] = [];
    const kw = new Keyward({
      store: new Failing(),
      prefix: "acme",
      env: "test",
      anomalies: {
        // A webhook that is down, say.
        onAnomaly: async (a) => {
          called.push(a.kind);
          throw new Error("webhook down");
        },
        onError: async () => {
          called.push("onError");
          throw new Error("pager down");
        },
      },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const rejections = await unhandledRejectionsOf(async () => {
      await kw.check({ token, ip: "192.0.2.1" });
      await kw.check({ token, ip: "192.0.2.2" });
      await kw.flush();
    });
    expect(called).toEqual(["new-ip", "onError"]);
    expect(rejections).toEqual([]);
    await kw.close();
  });

  it("a store that hangs: a write of shared state fails after usage.writeTimeoutMs, kw.flush() and kw.close() answer, and alerts are decided per process", async () => {
    class Hung extends MemoryStore {
      override touchSeen(): Promise<(number | null)[]> {
        return new Promise(() => {});
      }
    }
    const errors: unknown[] = [];
    const kinds: string[] = [];
    const kw = new Keyward({
      store: new Hung(),
      prefix: "acme",
      env: "test",
      usage: { writeTimeoutMs: 50 },
      anomalies: { shared: { flushIntervalMs: 60_000 }, onError: (e) => errors.push(e), onAnomaly: (a) => kinds.push(a.kind) },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.check({ token, ip: "192.0.2.1" });
    await kw.check({ token, ip: "192.0.2.2" });
    const answered = (p: Promise<void>) => Promise.race([p.then(() => "answered"), new Promise((r) => setTimeout(() => r("still waiting"), 2_000))]);
    expect(await answered(kw.flush())).toBe("answered");
    expect(kinds).toEqual(["new-ip"]);
    expect(errors).toMatchObject([{ code: "STORE_UNAVAILABLE" }]);
    expect(await answered(kw.close())).toBe("answered");
  });

  it("kw.flush() writes the sightings pending when it began, not those that traffic adds meanwhile: it answers under steady traffic", async () => {
    let kw: Keyward | undefined;
    let token = "";
    let writes = 0;
    // Each write of shared state sees one more decision with a new IP arrive (as under steady traffic), 30 at most.
    class Busy extends MemoryStore {
      override async touchSeen(entries: readonly SeenEntry[], max: number) {
        if (++writes <= 30) {
          await kw!.check({ token, ip: `192.0.2.${writes + 1}` });
          await sleep(1); // the decision reaches the detector after the request's tick
        }
        return super.touchSeen(entries, max);
      }
    }
    kw = new Keyward({ store: new Busy(), prefix: "acme", env: "test", anomalies: { shared: { flushIntervalMs: 60_000 } } });
    ({ token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" }));
    await kw.check({ token, ip: "192.0.2.1" });
    await kw.flush();
    // One write, of the one decision pending when the flush began; the one it brought is the next flush's.
    expect(writes).toBe(1);
    await kw.flush();
    expect(writes).toBe(2);
    await kw.close();
  });

  it("a store that hangs: the flush timer chains no flush behind one that waits (work counted, not piled up for the outage)", async () => {
    class Hung extends MemoryStore {
      override touchSeen(): Promise<(number | null)[]> {
        return new Promise(() => {});
      }
    }
    const d = new AnomalyDetector({ shared: { flushIntervalMs: 10 }, onError: () => {} }, guardStore(new Hung()), 200);
    const ev = (i: number) => ({ at: Date.now(), tokenId: "tok_a", owner: "acct_1", ok: true, code: "OK" as const, status: 200, scope: null, cost: 0, ip: `192.0.2.${i}`, origin: null, signed: false, pool: null });
    // About 40 ticks while the first write waits out its 200 ms, and the next.
    for (let i = 1; i <= 40; i++) {
      d.observe(ev(i));
      await sleep(10);
    }
    expect(d.size().flushes).toBeLessThanOrEqual(1);
    await d.close();
  });

  it("after kw.close(), decisions are judged per process: nothing more is written to the store (which the application may have closed)", async () => {
    let writes = 0;
    class Counting extends MemoryStore {
      override touchSeen(entries: readonly SeenEntry[], max: number) {
        writes++;
        return super.touchSeen(entries, max);
      }
    }
    const kinds: string[] = [];
    const kw = new Keyward({ store: new Counting(), prefix: "acme", env: "test", anomalies: { shared: { flushIntervalMs: 10 }, onAnomaly: (a) => kinds.push(a.kind) } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.check({ token, ip: "192.0.2.1" });
    await kw.close();
    const written = writes;
    await kw.check({ token, ip: "192.0.2.2" });
    await sleep(100); // ten ticks of the flush timer, had it been armed again
    await kw.flush();
    expect(writes).toBe(written);
    expect(kinds).toEqual(["new-ip"]);
  });

  it("bounded: beyond maxPending, sightings are decided per process at once (nothing queued without bound)", async () => {
    const kinds: string[] = [];
    const kw = new Keyward({
      store: new MemoryStore(),
      prefix: "acme",
      env: "test",
      anomalies: { shared: { maxPending: 2, flushIntervalMs: 60_000 }, onAnomaly: (a) => kinds.push(a.kind) },
    });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (let i = 1; i <= 10; i++) await kw.check({ token, ip: `192.0.2.${i}` });
    await new Promise((r) => setTimeout(r, 5));
    // Two decisions wait for the store; the other 8 were judged here (the first use is no alert).
    expect(kinds).toHaveLength(8);
    await kw.flush();
    expect(kinds).toHaveLength(9);
    await kw.close();
  });
});
