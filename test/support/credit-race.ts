// The worker side of "N processes × 2 500 concurrent checks on one token's
// credits", shared by the SQLite and PostgreSQL cross-process tests.
import { Keyward, type TokenStore } from "../../src/index.js";

/**
 * arg: "<token>@<startAt>". Warms the lookup cache, waits for the common
 * start, then makes 2 500 concurrent checks of 1 credit each.
 *
 * @returns what the test reads: the grants, the codes seen and when the run started and ended
 */
export async function raceCredits(store: TokenStore, arg: string) {
  const [token, startAt] = arg.split("@");
  // 2 500 checks queued on one connection pool (or SQLite's write lock) may wait longer than the
  // default deadline of a store call (lookupTimeoutMs, 2 s) on a loaded machine: this race
  // counts grants, so each check waits as long as the queue takes.
  const kw = new Keyward({ store, prefix: "acme", lookupTimeoutMs: 60_000 });
  await kw.check({ token, cost: 0 });
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
  const start = Date.now();
  const ds = await Promise.all(Array.from({ length: 2500 }, () => kw.check({ token })));
  const end = Date.now();
  await kw.close();
  return { granted: ds.filter((d) => d.ok).length, codes: [...new Set(ds.map((d) => d.code))], start, end };
}
