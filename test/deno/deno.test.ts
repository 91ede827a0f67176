// keyward on Deno, in a real Deno (README, DESIGN.md, docs/frameworks.md,
// docs/stores.md: the core, keyward/fetch, keyward/client and keyward/sqlite
// over node:sqlite run there):
// - The whole TokenStore conformance suite (keyward/testing), run by Deno's
//   own test runner (Deno.test), over keyward/sqlite on a node:sqlite
//   DatabaseSync and over MemoryStore; and over a broken store, which must
//   fail there as under vitest (the shim's matchers and hooks do check).
// - The Ed25519 vectors and crypto backend tests of test/signing, which must
//   give Node's verdicts there (docs/signed-requests.md: "the same on every
//   backend and every runtime").
// - keyward/sqlite granted its database file only (test/sqlite/permissions.test.ts
//   on Node's permission model): the WAL bound is refused, not silently off.
// - keyward/sqlite opening a database another process reads: SQLite's busy
//   answer is tried again as on Node (Deno's exec() errors carry no errcode).
// - Deno and Node processes racing on one node:sqlite file (test/sqlite/worker.ts):
//   the credits are granted exactly once, whichever runtime asks.
// - A Deno.serve route guarded by keyward/fetch, a Hono app guarded by
//   keyward/hono, the admin handler as Deno.serve(admin), keyward/leaks'
//   receiver, and keyward/client's signers, driven by Deno's fetch (serve.ts).
//
// Deno runs bundles (../support/runtime.ts), with permissions granted one by
// one and --no-prompt (a permission missing is an error, never a question).
// The Deno binary: KEYWARD_DENO (.ci/run installs Deno from the npm registry
// and sets it). Without it the tests skip with the reason printed, except
// under CI=true, where a missing Deno is a failure.
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Keyward } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { beforeAll, describe, expect, it } from "vitest";
import { bundle, ROOT, RUN_TIMEOUT_MS, type RunResult, run, runtimeBinary, scratchDir } from "../support/runtime.js";

const DENO = runtimeBinary("KEYWARD_DENO", "Deno", "npm i --prefix /tmp/deno deno");
const dir = scratchDir("deno");
/** Resolves nothing but the bundle: no deno.json or package.json is read, no npm or remote module fetched. */
const ISOLATED = ["--no-prompt", "--no-config", "--no-npm", "--no-remote"];
/** The SQLite files, in the scratch directory only. */
const FILES = [`--allow-read=${dir}`, `--allow-write=${dir}`];
// No look for a newer Deno (a request to the network); its cache in the scratch directory, not the home.
const deno = (args: string[]) => run(DENO!, args, dir, { DENO_NO_UPDATE_CHECK: "1", DENO_DIR: join(dir, "deno-dir") });
const src = (path: string) => JSON.stringify(join(ROOT, path));

/**
 * vitest files of test/signing run in Deno as they are: Deno's node:crypto, WebCrypto and noble
 * give the same Ed25519 verdicts as Node's, edge cases included (docs/signed-requests.md).
 */
const SIGNING = ["ed25519-vectors.test", "backends.test"];

/** Deno's report of one test: `<name> ... ok (12ms)`, `... FAILED (3s)`, `... ignored (0ms)`, `... ok (918µs)`. */
const RESULT = /^(.+) \.\.\. (ok|FAILED|ignored) \([^)]*\)$/gm;

describe.runIf(DENO)("keyward on Deno", () => {
  let kit!: RunResult;
  /** Each test's outcome by store ("SqliteStore (node:sqlite)") or outer describe, then the rest of its name. */
  const outcomes = new Map<string, Map<string, string>>();

  beforeAll(async () => {
    const source = [
      'import { DatabaseSync } from "node:sqlite";',
      `import { MemoryStore } from ${src("src/index.ts")};`,
      `import { sqliteStore } from ${src("src/sqlite/index.ts")};`,
      `import { describeTokenStore } from ${src("src/testing/index.ts")};`,
      `import { KeepsRefs } from ${src("test/testing/broken-stores.ts")};`,
      "let n = 0;",
      `describeTokenStore("SqliteStore (node:sqlite)", () => sqliteStore(new DatabaseSync(${JSON.stringify(dir)} + "/db-" + n++ + ".sqlite")), {`,
      "  raw: (s) => s.dump(),",
      '  skip: { changeFeed: "SQLite has no cross-process notifications" },',
      "});",
      'describeTokenStore("MemoryStore", () => new MemoryStore(), { raw: (s) => s.dump() });',
      'describeTokenStore("KeepsRefs", () => new KeepsRefs(), { concurrency: 20 });',
    ].join("\n");
    const vitest = "test/deno/vitest-on-deno.ts";
    const suites = [
      await bundle(dir, "conformance.test", { source }, { vitest }),
      ...(await Promise.all(SIGNING.map((name) => bundle(dir, name, { path: join(ROOT, `test/signing/${name}.ts`) }, { vitest })))),
    ];
    // vitest's matchers (tinyrainbow) read these variables to choose whether to colour their messages.
    const env = "--allow-env=NO_COLOR,FORCE_COLOR,FORCE_TTY,TERM,CI";
    kit = await deno(["test", ...ISOLATED, ...FILES, env, ...suites]);
    for (const [, name, outcome] of kit.stdout.matchAll(RESULT)) {
      const [store, ...rest] = name!.replace(/^TokenStore: /, "").split(" > ");
      if (!outcomes.has(store!)) outcomes.set(store!, new Map());
      outcomes.get(store!)!.set(rest.join(" > "), outcome!);
    }
  }, RUN_TIMEOUT_MS + 10_000);

  /** The tests of `store` whose outcome is `outcome`. */
  const having = (store: string, outcome: string) => [...(outcomes.get(store) ?? [])].filter(([, o]) => o === outcome).map(([t]) => t);

  it("passes the TokenStore conformance suite over keyward/sqlite on a node:sqlite DatabaseSync", () => {
    const store = "SqliteStore (node:sqlite)";
    expect(having(store, "FAILED"), kit.output.slice(-4000)).toEqual([]);
    // Every group but the change feed ran (the suite has about 150 tests; a group lost would show here).
    expect(having(store, "ok").length).toBeGreaterThanOrEqual(130);
    expect(having(store, "ignored").every((t) => t.startsWith("changeFeed (skipped: "))).toBe(true);
    for (const group of ["insert", "races", "raw", "usage", "usageAnalytics", "billing", "anomalyState", "accounts", "delete"]) {
      expect(having(store, "ok").some((t) => t.startsWith(`${group} > `)), group).toBe(true);
    }
    // A kit test skips itself only where the store lacks a capability: this store has them all but the feed.
    const skipped = kit.stdout.split("\n").filter((l) => l.startsWith(`(kit skip) TokenStore: ${store} > `));
    expect(skipped.length).toBeGreaterThan(0);
    for (const line of skipped) expect(line).toMatch(/ > without the capability/);
  });

  it("passes it over MemoryStore, change feed included", () => {
    expect(having("MemoryStore", "FAILED"), kit.output.slice(-4000)).toEqual([]);
    expect(having("MemoryStore", "ignored")).toEqual([]);
    expect(having("MemoryStore", "ok").filter((t) => t.startsWith("changeFeed > ")).length).toBeGreaterThanOrEqual(5);
  });

  it("gives the same signatures and verdicts on every crypto backend as on Node: RFC 8032 vectors, small-order and mixed-order points", () => {
    for (const file of ["Ed25519 vectors on every backend", "crypto backends"]) {
      expect(having(file, "FAILED"), kit.output.slice(-4000)).toEqual([]);
      expect(having(file, "ok").length, file).toBeGreaterThanOrEqual(6);
    }
  });

  it("fails a store that breaks the contract there as under vitest: the shim's matchers and hooks check", () => {
    // KeepsRefs keeps the objects update and appendAudit are given, not copies
    // (test/testing/conformance-catches.test.ts names the two tests vitest fails).
    const failed = having("KeepsRefs", "FAILED");
    expect(failed).toHaveLength(2);
    expect(failed.map((t) => t.split(" > ")[0]).sort()).toEqual(["audit", "update"]);
    expect(having("KeepsRefs", "ok").length).toBeGreaterThanOrEqual(130);
    expect(kit.code).not.toBe(0);
    expect(kit.stdout).toMatch(/^FAILED \| \d+ passed \| 2 failed \| \d+ ignored/m);
  });

  it("refuses the SQLite WAL bound it cannot keep: granted the database file only, the -wal file beside it is not readable", async () => {
    const script = await bundle(dir, "open", { path: join(ROOT, "test/sqlite/open-under-permissions.ts") });
    const db = join(dir, "only-this-file.sqlite");
    const { code, stdout, stderr } = await deno(["run", ...ISOLATED, `--allow-read=${db}`, `--allow-write=${db}`, script, db]);
    expect(code, stderr).toBe(0);
    // Refused before any table was written.
    expect(JSON.parse(stdout)).toEqual({ bounded: { code: "INVALID_CONFIG", field: "walCheckpointBytes" }, tables: 0, unbounded: "opened" });
  });

  it("shares a node:sqlite file with Node: a Deno and a Node process × 2 500 concurrent checks on 1 000 credits grant exactly 1 000", async () => {
    const worker = await bundle(dir, "worker", { path: join(ROOT, "test/sqlite/worker.ts") });
    const path = join(dir, "race.sqlite");
    const store = sqliteStore(path);
    const { token } = await new Keyward({ store, prefix: "acme" }).tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
    await store.close();
    const args = [worker, "credits", path, `${token}@${Date.now() + 2000}`]; // a common start once both have loaded
    const runs = await Promise.all([
      deno(["run", ...ISOLATED, ...FILES, ...args]),
      run(process.execPath, ["--no-warnings", ...args], dir),
    ]);
    expect(runs.map((r) => r.code), runs.map((r) => r.output).join("\n")).toEqual([0, 0]);
    const results = runs.map((r) => JSON.parse(r.stdout) as { granted: number; codes: string[]; start: number; end: number });
    // The two runs overlapped: each started before the other ended.
    for (const a of results) for (const b of results) expect(a.start).toBeLessThanOrEqual(b.end);
    expect(results.reduce((sum, r) => sum + r.granted, 0)).toBe(1000);
    expect(results.every((r) => r.codes.every((c) => c === "OK" || c === "CREDITS_EXHAUSTED"))).toBe(true);
  }, 60_000);

  it("opens a database another process reads as Node does: the busy answer of PRAGMA journal_mode = WAL is tried again", async () => {
    // Deno's node:sqlite gives the errors of exec() no errcode (those of prepare() have it), only the message.
    const script = await bundle(dir, "open-at", { path: join(ROOT, "test/deno/open-at.ts") });
    const path = join(dir, "read-elsewhere.sqlite");
    // A database in SQLite's default rollback journal, read by this process: WAL mode needs it to itself.
    const reader = new DatabaseSync(path);
    reader.exec("CREATE TABLE theirs (x); BEGIN");
    reader.prepare("SELECT count(*) FROM theirs").get();
    // Deno opens at `at` (once loaded), waits 400 ms for the lock, is answered busy, waits again: the read ends meanwhile.
    const at = Date.now() + 1200;
    const release = setTimeout(() => reader.exec("COMMIT"), at + 600 - Date.now());
    try {
      const { code, stdout, stderr } = await deno(["run", ...ISOLATED, ...FILES, script, path, "400", String(at)]);
      expect(code, stderr).toBe(0);
      expect(JSON.parse(stdout)).toBe("opened");
    } finally {
      clearTimeout(release);
      reader.close();
    }
  });

  it("guards Deno.serve routes with keyward/fetch and keyward/hono, serves Deno.serve(admin) and the leak receiver, signs with keyward/client", async () => {
    const script = await bundle(dir, "serve", { path: join(ROOT, "test/deno/serve.ts") });
    const { code, stdout, stderr } = await deno([
      "run",
      ...ISOLATED,
      ...FILES,
      // Deno.serve listens on 127.0.0.1 and Deno's fetch calls it there: no other host.
      "--allow-net=127.0.0.1",
      // What signerFromEnv reads for ed25519 (docs/signed-requests.md); KEYWARD_TOKEN is refused on purpose.
      "--allow-env=KEYWARD_KEY_ID,KEYWARD_ALG,KEYWARD_PRIVATE_KEY",
      script,
      join(dir, "serve.db"),
    ]);
    expect(code, stdout + stderr).toBe(0);
    const seen = JSON.parse(stdout.trim().split("\n").at(-1)!);
    const ok = (id: string, body = "") => ({ status: 200, type: "application/json", challenge: null, body: { token: id, body } });
    expect(seen.bearer).toEqual(ok(seen.ids.bearer));
    expect(seen.hono.bearer).toMatchObject({ status: 200, body: { token: seen.ids.bearer } });
    expect(seen.hono.elsewhere).toMatchObject({ status: 403, body: { code: "IP_DENIED" } });
    expect(seen.none).toMatchObject({ status: 401, type: "application/problem+json", challenge: 'Bearer realm="api"', body: { code: "TOKEN_MISSING" } });
    // The client IP comes from info.remoteAddr: a token allowed only elsewhere is denied.
    expect(seen.elsewhere).toMatchObject({ status: 403, body: { code: "IP_DENIED" } });
    expect(seen.unsigned).toMatchObject({ status: 401, body: { code: "SIGNATURE_REQUIRED" } });
    // Signed by keyward/client in Deno, verified by keyward in Deno: a POST with a body (Content-Digest), a GET.
    expect(seen.ed25519).toEqual(ok(seen.ids.ed25519, '{"q":"é"}'));
    expect(seen.hmac).toEqual(ok(seen.ids.hmac));
    expect(seen.fromEnv).toEqual(ok(seen.ids.ed25519));
    expect(seen.refused).toEqual({ name: "ConfigError", code: "INVALID_CONFIG", field: "KEYWARD_TOKEN" });
    expect(seen.revoked).toMatchObject({ status: 401, type: "application/problem+json", challenge: 'Bearer realm="api", error="invalid_token"' });
    // Written to the node:sqlite file and read back.
    expect(seen.usage).toEqual({ bearer: [{ allowed: 2, denied: 0 }], ed25519: [{ allowed: 2, denied: 1 }], hmac: [{ allowed: 1, denied: 0 }] });
    expect(seen.admin).toEqual({ created: 201, listed: true, anonymous: 401, page: "text/html; charset=utf-8", check: true });
    // keyward/leaks: a forged alert changes nothing; GitHub's revokes the token.
    expect(seen.leaks).toEqual({ forged: 401, checkAfterForged: "OK", alerted: 200, check: "TOKEN_REVOKED" });
    // Nothing on stderr but Deno's notice that a handler read request.signal (docs/frameworks.md).
    expect(stderr.split("\n").filter((l) => l !== "" && !l.startsWith("Deno.serve: request.signal aborts on successful responses"))).toEqual([]);
  }, 60_000);
});
