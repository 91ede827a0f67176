// Usage counted exactly by several instances on one database, over restarts:
// for test/sqlite/usage-counts.test.ts and test/postgres/usage-counts.test.ts.
import { Keyward, type TokenStore } from "keyward";
import { expect } from "vitest";

/** A store on the shared database, and how to let it go (close it, end its pool). */
export interface OpenedStore {
  store: TokenStore;
  close(): Promise<void>;
}

/**
 * `rounds` times, `instances` Keyward instances on stores `open` gives
 * check one token concurrently (`perInstance` checks each, 4 at a time, with
 * small batches, a fast timer and flushes in between), then close: every
 * allowed request and credit is counted once, per hour and per minute. What is
 * checked is the count, not how long a check waits for the token's row: the
 * checks get 30 s for their lookups (a loaded machine took longer than the
 * default 2 s), and `open` gives the store as long for its locks.
 */
export async function countUsageAcrossRestarts(open: () => Promise<OpenedStore>, rounds = 3, instances = 3, perInstance = 400): Promise<void> {
  const first = await open();
  const admin = new Keyward({ store: first.store, prefix: "acme" });
  const { token, record } = await admin.tokens.create({ owner: "acct_count", kind: "secret", credits: { limit: 1_000_000 } });
  let total = 0;
  for (let round = 0; round < rounds; round++) {
    const opened = await Promise.all(Array.from({ length: instances }, open));
    const kws = opened.map((o) => new Keyward({ store: o.store, prefix: "acme", lookupTimeoutMs: 30_000, usage: { batchSize: 37, flushIntervalMs: 5 } }));
    await Promise.all(
      kws.map((kw, i) =>
        Promise.all(
          Array.from({ length: 4 }, async () => {
            for (let k = 0; k < perInstance / 4; k++) {
              const d = await kw.check({ token, cost: 2, scope: k % 3 === 0 ? "core:read" : undefined, ip: `198.51.100.${i}` });
              expect(d.code).toBe("OK");
              if (k % 25 === 0) await kw.flush();
            }
          }),
        ),
      ),
    );
    total += instances * perInstance;
    await Promise.all(kws.map((kw) => kw.close()));
    for (const kw of kws) expect(kw.usage.stats()).toMatchObject({ queued: 0, dropped: 0 });
    await Promise.all(opened.map((o) => o.close()));
  }
  const now = Date.now();
  const sum = (buckets: { allowed: number; denied: number; credits: number }[]) =>
    buckets.reduce((s, b) => ({ allowed: s.allowed + b.allowed, denied: s.denied + b.denied, credits: s.credits + b.credits }), { allowed: 0, denied: 0, credits: 0 });
  const counted = { allowed: total, denied: 0, credits: 2 * total };
  expect(sum(await admin.usage.get(record.id, { from: now - 86_400_000, to: now + 3_600_000 }))).toEqual(counted);
  expect(sum(await admin.usage.get({ owner: "acct_count" }, { from: now - 3_600_000, to: now + 60_000, granularity: "minute" }))).toEqual(counted);
  await admin.close();
  await first.close();
}
