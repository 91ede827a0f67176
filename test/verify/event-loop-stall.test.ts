// A request's store lookup whose answer came while the event loop was stalled
// past the lookup's deadline (a loaded machine, a long GC, a synchronous SQLite
// wait of another request) answers the request: no STORE_UNAVAILABLE (503).
import { mkdtempSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Keyward, MemoryStore, type TokenStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "kw-stall-lookup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stores: [string, () => TokenStore & { close?: () => Promise<void> | void }][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SQLite file", () => sqliteStore(join(dir, "lookups.db"))],
];

describe.each(stores)("a lookup answered during an event loop stall (%s)", (_, makeStore) => {
  it("answers the request, however late the stalled loop runs the lookup's deadline, and whatever lookup starts next", async () => {
    const store = makeStore();
    const findByHash = store.findByHash.bind(store);
    let stallNext = false;
    let second: Promise<unknown> | null = null;
    let secondToken = "";
    // Each lookup waits for a real I/O round trip (a thread-pool stat, as a database server's reply).
    store.findByHash = async (hash) => {
      if (stallNext) {
        stallNext = false;
        // Just after the lookup started (its deadline armed): another request's synchronous 1.8 s wait.
        queueMicrotask(() => {
          const end = performance.now() + 1_800;
          while (performance.now() < end);
          // Then that request's own lookup starts, before the loop has seen the first one's answer.
          second = kw.check({ token: secondToken });
        });
      }
      await stat(import.meta.filename);
      return findByHash(hash);
    };
    const kw = new Keyward({ store, prefix: "acme", lookupTimeoutMs: 300 });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    secondToken = (await kw.tokens.create({ owner: "acct_1", kind: "secret" })).token;
    // From the check phase, as a request's I/O callback: the loop's timers then run before the I/O callbacks.
    await new Promise<void>((resolve) => setImmediate(resolve));
    stallNext = true;
    const d = await kw.check({ token });
    expect(d.code).toBe("OK");
    expect(await second).toMatchObject({ code: "OK" });
    await kw.close();
    await store.close?.();
  });
});
