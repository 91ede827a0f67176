// A separate process on the shared PostgreSQL, for test/postgres/cross-process.test.ts.
// Bundled by the test with esbuild and run with node; prints JSON lines.
import pg from "pg";
import { Keyward } from "../../src/index.js";
import { postgresStore } from "../../src/postgres/index.js";
import { raceCredits } from "../support/credit-race.js";

const [mode, url, prefix, arg = ""] = process.argv.slice(2);
const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 8, application_name: "keyward-worker" });
  pool.on("error", () => {});
  // "<mode>+leases": the same with credit leases (with a short lease TTL for "hold", the expiry test).
  // "<mode>+offline": a lost LISTEN connection comes back after 4 to 8 s, so for seconds only the cache's TTL bounds
  // what it serves (coming back, it drops every entry).
  const [base, variant] = mode!.split("+");
  const offline = variant === "offline";
  const store = await postgresStore(pool, {
    tablePrefix: prefix,
    reconnectMinMs: offline ? 8_000 : 200,
    reconnectMaxMs: offline ? 8_000 : 400,
    heartbeatMs: 60_000,
    // A short lease TTL for the expiry test only: in the credit race, a report that came after 500 ms on a loaded
    // machine found its lease reclaimed, and its batch was denied STORE_UNAVAILABLE (as it must be: never an overspend).
    creditLeases: variant === "leases" && (base === "hold" ? { ttlMs: 500 } : true),
    // 4 processes' checks queue for one token's lock: past the default 1 s on a loaded machine (seen with leases),
    // a check would be denied STORE_UNAVAILABLE. The races count grants: each waits as long as the queue takes.
    requestLockTimeoutMs: 60_000,
  });
  switch (base) {
    case "credits": {
      out(await raceCredits(store, arg));
      break;
    }
    case "topup": {
      // arg: "<owner>@<start ms>". At the start, 10 concurrent top-ups of 500 with one idempotency key.
      const [owner, start] = arg.split("@");
      const kw = new Keyward({ store, prefix: "acme" });
      await new Promise((r) => setTimeout(r, Math.max(0, Number(start) - Date.now())));
      const results = await Promise.all(
        Array.from({ length: 10 }, () => kw.credits.topUp({ owner: owner! }, 500, { idempotencyKey: "evt_race", actor: "stripe" })),
      );
      out({ remaining: results.map((r) => r.remaining) });
      await kw.close();
      break;
    }
    case "hold": {
      // arg: the token. Takes a lease, is granted 5 checks, says so, then waits to be killed.
      const kw = new Keyward({ store, prefix: "acme" });
      const ds = [];
      for (let i = 0; i < 5; i++) ds.push(await kw.check({ token: arg }));
      out({ granted: ds.filter((d) => d.ok).length });
      await new Promise(() => {});
      break;
    }
    case "watch": {
      // arg: "<revocationBoundMs>,<token>,<token>…". Checks every token every 2 ms (served from
      // the cache between lookups); says when all work, then when each first stops working, and
      // when the last check that allowed it started (the time that bounds a cache, whatever the scheduler).
      const [bound, ...tokens] = arg.split(",");
      const kw = new Keyward({ store, prefix: "acme", revocationBoundMs: Number(bound) });
      const denied = new Set<number>();
      const allowedAt = tokens.map(() => 0);
      let ready = false;
      while (denied.size < tokens.length) {
        const started = Date.now();
        const ds = await Promise.all(tokens.map((token) => kw.check({ token })));
        ds.forEach((d, i) => {
          if (d.ok) allowedAt[i] = started;
          else if (ready && !denied.has(i)) {
            denied.add(i);
            out({ i, deniedAt: Date.now(), allowedAt: allowedAt[i], code: d.code });
          }
        });
        if (!ready && ds.every((d) => d.ok)) {
          ready = true;
          out({ ready: true });
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await kw.close();
      break;
    }
  }
  await store.close();
  await pool.end();
}

main().catch((err) => {
  out({ error: String(err?.message ?? err) });
  process.exitCode = 1;
});
