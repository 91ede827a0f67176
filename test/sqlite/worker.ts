// A separate process on a shared SQLite file, for test/sqlite/cross-process.test.ts.
// Bundled by the test with esbuild and run with node; prints JSON lines.
import { guardStore, Keyward } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite/index.js";
import { raceCredits } from "../support/credit-race.js";

// driver: the module path of better-sqlite3 to open the file with, or "" for node:sqlite.
const [mode, path, arg = "", driver = ""] = process.argv.slice(2);
const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

async function main(): Promise<void> {
  // These processes test atomicity and propagation under deliberate contention
  // (thousands of writes at once on a busy machine), not the bound on a lock
  // wait (test/sqlite/store.test.ts): a request-path call waits as long as an
  // admin write, so a call starved for 100 ms is not a spurious failure here.
  if (mode === "hold") {
    // arg: a token id. Revokes it and remembers 20 000 nonces in one transaction, a cache small enough that pages
    // spill to the WAL before the COMMIT, and says so without committing: the test kills it there.
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(path!);
    db.exec("PRAGMA cache_size = 8; BEGIN IMMEDIATE");
    db.prepare("UPDATE keyward_tokens SET record = json_set(record, '$.revokedAt', 1) WHERE id = ?").run(arg);
    const nonce = db.prepare("INSERT INTO keyward_nonces (token_id, nonce, expires_at) VALUES (?, ?, ?)");
    for (let i = 0; i < 20_000; i++) nonce.run(arg, `n${i}-${"x".repeat(64)}`, Date.now() + 60_000);
    out({ holding: true });
    setInterval(() => {}, 1000);
    return;
  }
  if (mode === "open") {
    // arg: the common start. Opens (creates and migrates) the file at that instant, then issues and checks a token.
    await new Promise((r) => setTimeout(r, Math.max(0, Number(arg) - Date.now())));
    const opened = sqliteStore(path!);
    const kw = new Keyward({ store: opened, prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_open", kind: "secret" });
    out({ ok: (await kw.check({ token })).ok });
    await kw.close();
    await opened.close();
    return;
  }
  const db = driver === "" ? path! : new (await import(driver)).default(path!);
  const store = sqliteStore(db, { requestBusyTimeoutMs: 5_000 });
  switch (mode) {
    case "credits": {
      out(await raceCredits(store, arg));
      break;
    }
    case "create-keys": {
      // arg: "<count>:<startAt>:<index>". Every process creates a token under each of the same idempotency keys
      // (the same request), from the common start, each from its own offset in the list.
      const [count, startAt, index] = arg.split(":");
      const kw = new Keyward({ store, prefix: "acme" });
      await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
      const total = Number(count);
      const offset = (Number(index) * total) / 4;
      const keys = Array.from({ length: total }, (_, i) => `k${(i + offset) % total}`);
      const start = Date.now();
      const made = await Promise.all(keys.map((k) => kw.tokens.create({ owner: "acct_keys", kind: "secret", name: "same" }, { idempotencyKey: k })));
      out({ created: keys.filter((_, i) => made[i]!.token !== null), replayed: made.flatMap((m, i) => (m.token === null ? [[keys[i], m.record.id]] : [])), ids: made.map((m, i) => [keys[i], m.record.id]), start, end: Date.now() });
      await kw.close();
      break;
    }
    case "nonces": {
      // arg: "<tokenId>:<count>:<startAt>". Every process races on the same nonces from the common start.
      // Each process starts at its own offset in the list (index of 4), so every one wins some.
      const [tokenId, count, startAt, index] = arg.split(":");
      const g = guardStore(store);
      await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
      const total = Number(count);
      const offset = (Number(index) * total) / 4;
      const nonces = Array.from({ length: total }, (_, i) => `n${(i + offset) % total}`);
      const now = Date.now();
      const fresh = await Promise.all(nonces.map((nonce) => g.rememberNonce({ tokenId: tokenId!, nonce }, now + 60_000, now)));
      out({ accepted: nonces.filter((_, i) => fresh[i]), start: now, end: Date.now() });
      break;
    }
    case "watch": {
      // arg: the token. Checks it every 5 ms; says when it first works and when it first stops working,
      // and when the last check that allowed it started (the time that bounds a cache, whatever the scheduler).
      const kw = new Keyward({ store, prefix: "acme", revocationBoundMs: 1000 });
      let ready = false;
      let allowedAt = 0;
      for (;;) {
        const started = Date.now();
        const d = await kw.check({ token: arg });
        if (d.ok) allowedAt = started;
        if (d.ok && !ready) {
          ready = true;
          out({ ready: true });
        }
        if (!d.ok && ready) {
          out({ deniedAt: Date.now(), allowedAt, code: d.code });
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      break;
    }
    case "saturate": {
      // arg: "<token>@<checks>@<walCheckpointBytes>". Metered checks of the token (credits with a refill and a rate
      // limit: a transaction each), 16 at a time, usage written every 20 ms, and an admin write every 48 checks, on
      // a store with the default request wait; prints how many checks were denied.
      const [token, count, walBytes] = arg.split("@");
      await store.close();
      const own = sqliteStore(path!, { walCheckpointBytes: Number(walBytes) });
      const kw = new Keyward({ store: own, prefix: "acme", usage: { flushIntervalMs: 20 } });
      const { record } = await kw.tokens.create({ owner: "acct_admin", kind: "secret" });
      const denied: Record<string, number> = {};
      for (let checks = 0; checks < Number(count); ) {
        const ds = await Promise.all(Array.from({ length: 16 }, () => kw.check({ token: token!, cost: 1 })));
        checks += ds.length;
        for (const d of ds) if (!d.ok) denied[d.code] = (denied[d.code] ?? 0) + 1;
        if (checks % 48 === 0) await kw.tokens.update(record.id, { name: `n${checks}` });
      }
      await kw.close();
      await own.close();
      out({ denied });
      return;
    }
    case "load": {
      // Creates tokens and meters them until killed; prints each token once its write has committed.
      const kw = new Keyward({ store, prefix: "acme" });
      for (let i = 0; ; i++) {
        const { token, record } = await kw.tokens.create({ owner: "acct_load", kind: "secret", credits: { limit: 100 } });
        out({ id: record.id, token });
        await Promise.all([kw.check({ token }), kw.tokens.update(record.id, { name: `n${i}` })]);
      }
    }
  }
  await store.close();
}

main().catch((err) => {
  out({ error: String(err?.message ?? err) });
  process.exitCode = 1;
});
