// keyward's server core in a real Cloudflare workerd, as an edge user runs it
// (docs/frameworks.md, "Cloudflare Workers"; test/package/web-runtimes.test.ts
// imitates the same rules in node:vm): worker.ts bundled by esbuild as
// wrangler bundles a Worker (neutral platform, the workerd/worker/browser
// conditions, ESM), served by `workerd serve` on 127.0.0.1 with the
// compatibility date of the binary (what a new Worker gets), with and without
// `nodejs_compat`, and at 2023-01-01 (a Worker made then: a promise of a
// request that has ended never settles where another request waits for it,
// where newer dates reject it), and called by Node's fetch (undici): Keyward
// built at module scope over MemoryStore, tokens issued by keyward/admin and by an
// operator's route, keyward/fetch and keyward/hono answering allowed and
// denied requests (problem+json, RateLimit fields), requests signed by
// keyward/client in Node and in the Worker (ed25519 and hmac-sha256) and
// verified there, usage written through ctx.waitUntil(kw.flush()) or by the
// next request; and what a Worker cuts off with a request answered without
// ctx.waitUntil (usage and anomaly state writes, leak reports, lookups)
// holding up nothing, and lookups bounded by timers of their own request.
//
// The workerd binary: KEYWARD_WORKERD (.ci/run installs workerd from the npm
// registry and sets it). Without it the tests skip with the reason printed,
// except under CI=true, where a missing workerd is a failure
// (../support/runtime.ts).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigner, generateKeyPair } from "../../src/client/index.js";
import { JOIN_WINDOW_MS } from "../../src/verify/cache.js";
import { ROOT, runtimeBinary, scratchDir } from "../support/runtime.js";

const WORKERD = runtimeBinary("KEYWARD_WORKERD", "workerd", "npm i --prefix /tmp/workerd workerd@1");
const dir = scratchDir("workerd");

/** A port no one listens on now (workerd is told it; it cannot say which port it took). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A running `workerd serve`: its origin, everything it printed, and how to stop it. */
interface Workerd {
  origin: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** Serves `dir/worker.mjs` with `flags` on a free port of 127.0.0.1; resolves once it answers. */
async function serve(name: string, compatibilityDate: string, flags: string[]): Promise<Workerd> {
  const port = await freePort();
  const config = join(dir, `${name}.capnp`);
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # The Worker's own fetch reaches 127.0.0.1 (the default "internet" service allows public addresses only).
    (name = "net", network = (allow = ["public", "private", "local"])),
  ],
  # As behind Cloudflare's edge, which ends TLS: X-Forwarded-Proto: https makes the Worker's URL https.
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (forwardedProtoHeader = "x-forwarded-proto"), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.mjs", esModule = embed "worker.mjs")],
  compatibilityDate = "${compatibilityDate}",
  compatibilityFlags = ${JSON.stringify(flags)},
  globalOutbound = "net",
);
`,
  );
  const child: ChildProcess = spawn(WORKERD!, ["serve", config, "--verbose"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (b) => (output += b));
  child.stderr!.on("data", (b) => (output += b));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const origin = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}): ${output}`);
    try {
      await fetch(`${origin}/state`);
      break;
    } catch (err) {
      if (tries > 100) throw new Error(`workerd does not answer on ${origin}: ${output}`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    origin,
    output: () => output,
    stop: async () => {
      child.kill("SIGTERM");
      // workerd waits for the requests under way; none of them is the test's any more.
      const kill = setTimeout(() => child.kill("SIGKILL"), 1_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

interface Made {
  token: string;
  record: { id: string };
}
interface Answer {
  status: number;
  type: string | null;
  challenge: string | null;
  rateLimit: string | null;
  retryAfter: string | null;
  body: Record<string, unknown>;
}
const answer = async (res: Response): Promise<Answer> => ({
  status: res.status,
  type: res.headers.get("content-type"),
  challenge: res.headers.get("www-authenticate"),
  rateLimit: res.headers.get("ratelimit"),
  retryAfter: res.headers.get("retry-after"),
  body: (await res.json()) as Record<string, unknown>,
});
const SESSION = { authorization: "Bearer session" };
/** A customer's POST to keyward/admin, signed in as acct_1. */
const asCustomer = (body: unknown): RequestInit => ({ method: "POST", headers: { ...SESSION, "content-type": "application/json" }, body: JSON.stringify(body) });

let bundled = "";
let compatibilityDate = "";

beforeAll(async () => {
  if (!WORKERD) return;
  // What a new Worker gets: the newest date this workerd supports ("workerd 2026-11-23").
  compatibilityDate = /\d{4}-\d{2}-\d{2}/.exec(execFileSync(WORKERD, ["--version"], { encoding: "utf8" }))![0];
  // As wrangler bundles a Worker: the neutral platform with workerd's conditions, ESM, no Node polyfill.
  const result = await build({
    entryPoints: [join(ROOT, "test/workerd/worker.ts")],
    outfile: join(dir, "worker.mjs"),
    bundle: true,
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    format: "esm",
    target: "es2022",
    metafile: true,
    logLevel: "error",
  });
  bundled = Object.keys(result.metafile.inputs).join("\n");
}, 30_000);

describe.runIf(WORKERD).each([
  { name: "without nodejs_compat", flags: [] as string[] },
  { name: "with nodejs_compat", flags: ["nodejs_compat"] },
  { name: "at compatibility date 2023-01-01", flags: [] as string[], date: "2023-01-01" },
])("keyward in workerd, $name", ({ name, flags, date }) => {
  let wd: Workerd;
  const at = (path: string, init?: RequestInit) => fetch(`${wd.origin}${path}`, init);
  const setup = async (input: Record<string, unknown>) => (await (await at("/setup", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(input) })).json()) as Made;
  const bearer = (token: string, headers: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...headers } });

  beforeAll(async () => {
    wd = await serve(name.replaceAll(" ", "-"), date ?? compatibilityDate, flags);
  }, 20_000);
  afterAll(() => wd?.stop());

  it("builds Keyward, its guards and its admin handler at module scope; the bundle has no node: module", async () => {
    expect(bundled).toContain("src/keyward.ts");
    expect(bundled).not.toMatch(/^node:/m);
    const state = (await (await at("/state")).json()) as { decisions: string[]; usage: { queued: number } };
    expect(state.decisions).toEqual([]);
    expect(wd.output()).not.toMatch(/error|uncaught|exception/i);
  });

  it("issues a customer's tokens through keyward/admin and guards routes with keyward/fetch and keyward/hono", async () => {
    const created = await at("/admin/tokens", asCustomer({ kind: "secret", name: "server", scopes: ["core:read"], credits: { limit: 2 } }));
    expect(created.status).toBe(201);
    const { token, record } = (await created.json()) as Made;
    const listed = (await (await at("/admin/tokens", { headers: SESSION })).json()) as { items: { id: string }[] };
    expect(listed.items.map((t) => t.id)).toContain(record.id);
    expect((await at("/admin/tokens")).status).toBe(401);
    expect((await at("/admin/")).headers.get("content-type")).toBe("text/html; charset=utf-8");

    const ok = await answer(await at("/fetch/prices", bearer(token)));
    expect(ok).toMatchObject({ status: 200, body: { token: record.id, remaining: 1 } });
    expect(ok.rateLimit).toBe('"credits";r=1');
    expect(await answer(await at("/fetch/prices", bearer(token)))).toMatchObject({ status: 200, body: { remaining: 0 } });
    const exhausted = await answer(await at("/fetch/prices", bearer(token)));
    expect(exhausted).toMatchObject({ status: 402, type: "application/problem+json", rateLimit: '"credits";r=0', body: { code: "CREDITS_EXHAUSTED", remaining: 0 } });

    expect(await answer(await at("/fetch/prices"))).toMatchObject({ status: 401, type: "application/problem+json", challenge: 'Bearer realm="api"', body: { code: "TOKEN_MISSING" } });
    expect(await answer(await at("/hono/premium", bearer(token)))).toMatchObject({ status: 403, type: "application/problem+json", body: { code: "SCOPE_DENIED", scope: "premium:read" } });
    // Its last character changed (for a token ending in "x", "x" gave the token itself: a 402, about one run in 62).
    expect(await answer(await at("/fetch/prices", bearer(`${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}`)))).toMatchObject({ status: 401, challenge: 'Bearer realm="api", error="invalid_token"', body: { type: "urn:keyward:problem:invalid-token" } });

    const revoked = await at(`/admin/tokens/${record.id}/revoke`, asCustomer({}));
    expect(revoked.status).toBe(200);
    const after = await answer(await at("/fetch/prices", bearer(token)));
    expect(after).toMatchObject({ status: 401, challenge: 'Bearer realm="api", error="invalid_token"' });
    expect(after.body.code).toBeUndefined();
  });

  it("rate-limits (429, Retry-After, RateLimit) and takes the client IP from CF-Connecting-IP, on keyward/fetch and keyward/hono", async () => {
    const limited = await setup({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"], rateLimit: { limit: 2, windowMs: 60_000 } });
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push((await at("/fetch/prices", bearer(limited.token))).status);
    expect(statuses).toEqual([200, 200]);
    const denied = await answer(await at("/hono/premium", bearer(limited.token)));
    expect(denied).toMatchObject({ status: 429, type: "application/problem+json", body: { code: "RATE_LIMITED" } });
    expect(Number(denied.retryAfter)).toBeGreaterThan(0);
    expect(denied.rateLimit).toMatch(/^"requests";r=0;t=\d+$/);

    // What Cloudflare's edge hands a Worker: an https URL (the client's TLS ended there) and the client's address.
    const office = await setup({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"], ips: ["203.0.113.0/24"] });
    const from = (ip: string) => bearer(office.token, { "x-forwarded-proto": "https", "cf-connecting-ip": ip });
    expect(await answer(await at("/fetch/prices", from("203.0.113.7")))).toMatchObject({ status: 200, body: { token: office.record.id } });
    expect(await answer(await at("/fetch/prices", from("198.51.100.1")))).toMatchObject({ status: 403, body: { code: "IP_DENIED" } });
    expect(await answer(await at("/hono/premium", from("203.0.113.9")))).toMatchObject({ status: 200, body: { token: office.record.id } });
    expect(await answer(await at("/hono/premium", from("198.51.100.1")))).toMatchObject({ status: 403, body: { code: "IP_DENIED" } });
    // A token sent in cleartext from elsewhere than this host (http, a public client address) is refused.
    expect(await answer(await at("/fetch/prices", bearer(office.token, { "cf-connecting-ip": "203.0.113.7" })))).toMatchObject({ status: 403, body: { code: "INSECURE_TRANSPORT" } });
  });

  it("verifies requests signed by keyward/client in Node (ed25519 with a body, hmac-sha256) and refuses a replay", async () => {
    const pair = await generateKeyPair();
    const made = await at("/admin/tokens", asCustomer({ kind: "secret", scopes: ["core:read"], requireSignedRequests: true, signing: { alg: "ed25519", publicKey: pair.publicKeyBase64url() } }));
    expect(made.status).toBe(201);
    const ed25519 = (await made.json()) as Made;
    const hmac = await setup({ owner: "acct_1", kind: "secret", scopes: ["core:read"], requireSignedRequests: true, signing: { alg: "hmac-sha256" } });

    const signer = createSigner({ keyId: ed25519.record.id, alg: "ed25519", privateKey: pair.privateKey });
    const signed = await signer.sign(new Request(`${wd.origin}/fetch/prices`, { method: "POST", body: '{"q":"é"}' }));
    const replay = signed.clone();
    expect(await answer(await fetch(signed))).toMatchObject({ status: 200, body: { token: ed25519.record.id, body: '{"q":"é"}' } });
    const replayed = await answer(await fetch(replay));
    expect(replayed).toMatchObject({ status: 401, body: { code: "REPLAYED" } });

    const byHmac = await createSigner({ keyId: hmac.record.id, alg: "hmac-sha256", token: hmac.token }).sign(new Request(`${wd.origin}/fetch/prices`));
    expect(await answer(await fetch(byHmac))).toMatchObject({ status: 200, body: { token: hmac.record.id } });
    expect(await answer(await at("/fetch/prices", bearer(hmac.token)))).toMatchObject({ status: 401, body: { code: "SIGNATURE_REQUIRED" } });
    // A body changed after signing: its Content-Digest no longer matches.
    const tampered = await signer.sign(new Request(`${wd.origin}/fetch/prices`, { method: "POST", body: "a" }));
    expect(await answer(await fetch(new Request(tampered, { body: "b" })))).toMatchObject({ status: 401, body: { code: "DIGEST_MISMATCH" } });
  });

  it("signs with keyward/client inside the Worker (its own key pair, its own fetch) and verifies there", async () => {
    const seen = (await (await at("/inside")).json()) as { ids: Record<string, string>; ed25519: unknown; hmac: unknown; lowLevel: unknown };
    expect(seen.ed25519).toEqual({ status: 200, body: { token: seen.ids.ed25519, remaining: null, body: "from the worker" } });
    expect(seen.hmac).toEqual({ status: 200, body: { token: seen.ids.hmac, remaining: null, body: "" } });
    expect(seen.lowLevel).toEqual({ signed: true, scope: true });
  });

  it("writes usage through ctx.waitUntil(kw.flush()), and without it during a later request; delivers onDecision hooks", async () => {
    const usage = async (id: string) => {
      const res = await at(`/admin/tokens/${id}/usage?granularity=hour&from=${Date.now() - 3_600_000}&to=${Date.now() + 3_600_000}`, { headers: SESSION });
      const { buckets } = (await res.json()) as { buckets: { allowed: number; denied: number }[] };
      return buckets.reduce((n, b) => n + b.allowed, 0);
    };
    const state = async () => (await (await at("/state")).json()) as { decisions: string[]; usage: { queued: number; written: number } };
    const waited = await setup({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
    expect((await at("/fetch/prices", bearer(waited.token))).status).toBe(200);
    expect(await usage(waited.record.id)).toBe(1);
    expect((await state()).usage.queued).toBe(0);

    const decided = (await state()).decisions.length;
    // The flush timer is armed by a decision, and dies with its request. A decision more than a second past the
    // timer's due time takes it as dropped and writes the queue, its own event too: so the request below comes
    // within 2 s of the one that armed it (2.2 s after the requests before, whose timers are then long past due).
    // On a loaded machine it may come later: then it is tried again, with a new token.
    let left: Made | undefined;
    for (let tries = 1; left === undefined; tries++) {
      const made = await setup({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
      await new Promise((resolve) => setTimeout(resolve, 2_200));
      const armedFrom = performance.now();
      expect((await at("/fetch/prices", bearer(waited.token))).status).toBe(200);
      expect((await at("/fetch/prices", bearer(made.token, { "x-wait-until": "no" }))).status).toBe(200);
      if (performance.now() - armedFrom < 2_000) left = made;
      else expect(tries, "the request never came within 2 s of the one that armed the timer").toBeLessThan(5);
    }
    // Past the flush interval (1 s) and keyward's margin for a dropped timer (1 s): the timer armed by
    // that request never fired, as docs/frameworks.md says.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    const before = await state();
    expect(before.usage.queued).toBe(1);
    expect(await usage(left.record.id)).toBe(0);
    // The next guarded request writes it (and has its own written by ctx.waitUntil).
    expect((await at("/fetch/prices", bearer(waited.token))).status).toBe(200);
    expect(await usage(left.record.id)).toBe(1);
    const after = await state();
    expect(after.usage.queued).toBe(0);
    expect(after.decisions.length).toBeGreaterThanOrEqual(decided + 2);
    expect(wd.output()).not.toMatch(/error|uncaught|exception/i);
  });

  // /remote/*: a Keyward over a store whose answers come after a round trip (its usage writes 50 ms),
  // flushIntervalMs 100, writeTimeoutMs 200, lookupTimeoutMs 300.
  const remote = {
    calls: 0,
    setup: async () => (await (await at("/remote/setup", { method: "POST", body: JSON.stringify({ owner: "acct_1", kind: "secret" }) })).json()) as Made,
    state: async () => ((await (await at("/remote/state")).json()) as { usage: { queued: number; written: number; failedWrites: number } }).usage,
    usage: async (id: string) => ((await (await at(`/remote/usage?id=${id}`)).json()) as { allowed: number }).allowed,
    call: async (token: string, waitUntil: boolean) => {
      const started = performance.now();
      // Each from an address of its own (over https, as behind Cloudflare): a sighting, anomaly state to write.
      const from = { "x-forwarded-proto": "https", "cf-connecting-ip": `203.0.113.${++remote.calls}` };
      const res = await at("/remote/prices", bearer(token, waitUntil ? from : { ...from, "x-wait-until": "no" }));
      return { status: res.status, code: ((await res.json()) as { code?: string }).code, ms: performance.now() - started };
    },
  };

  it("usage and anomaly state writes cut off with the request that started them (no ctx.waitUntil) are written again by a later request", async () => {
    const { token, record } = await remote.setup();
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    expect((await remote.call(token, false)).status).toBe(200);
    // The flush timers that request armed (100 ms) were dropped: each of the next two requests starts
    // the writes, and answers before the store does. workerd drops the writes' answers and their
    // deadlines with the request.
    for (let i = 0; i < 2; i++) {
      await pause(1_300);
      expect((await remote.call(token, false)).status).toBe(200);
    }
    // At once, well before the writes' deadline (writeTimeoutMs 200 ms here): workerd rejects a promise of
    // the request that ended where another request waits for it, so keyward knows the writes were cut off.
    // A request that hands kw.flush() to ctx.waitUntil, as docs/frameworks.md says: all four are written.
    expect((await remote.call(token, true)).status).toBe(200);
    let allowed = 0;
    for (let tries = 0; tries < 20 && allowed < 4; tries++) {
      await pause(100);
      allowed = await remote.usage(record.id);
    }
    expect({ allowed, ...(await remote.state()) }).toMatchObject({ allowed: 4, queued: 0, written: 4, failedWrites: 2 });
    // And kw.flush() waits for no write of anomaly state that was cut off.
    expect(await (await at("/remote/flushed")).json()).toBe("flushed");
  });

  it("a leak report cut off with its request (a token in a URL, no ctx.waitUntil) leaves kw.flush() free, and the token is reported when seen again", async () => {
    const instants = async () => (await (await at("/remote/instants")).json()) as { lookups: number[]; requests: { came: number; answered: number }[] };
    // The two requests below join the report's lookup only if they come within JOIN_WINDOW_MS of its start, on the
    // Worker's clock; on a loaded machine they may come later, and look up anew: then it is tried again, with a new token.
    let leaked: Made | undefined;
    for (let tries = 1; leaked === undefined; tries++) {
      const made = await remote.setup();
      const inUrl = (headers: Record<string, string>) => at(`/remote/prices?api_key=${made.token}`, { headers });
      const lookedUp = (await instants()).lookups.length;
      // The report's lookup takes 100 ms; the request is answered (TOKEN_IN_URL) before it.
      await at("/remote/slow?ms=100");
      let pair: { status: number; ms: number }[] | string;
      try {
        expect(await answer(await inUrl({ "x-wait-until": "no" }))).toMatchObject({ status: 400, body: { code: "TOKEN_IN_URL" } });
        // Used at once, within the 100 ms a lookup under way is shared, the token is looked up anew; at older
        // compatibility dates, where the cut-off lookup never settles, it is abandoned at its deadline (300 ms).
        // Two requests join it: each is answered as the first is.
        pair = await Promise.race([Promise.all([remote.call(made.token, true), remote.call(made.token, true)]), new Promise<string>((resolve) => setTimeout(resolve, 5_000, "a joiner still waiting after 5 s"))]);
      } finally {
        await at("/remote/slow?ms=0");
      }
      expect(typeof pair).not.toBe("string");
      const { lookups, requests } = await instants();
      const joiners = requests.slice(-2);
      if (joiners.some(({ came }) => came - lookups[lookedUp]! > JOIN_WINDOW_MS)) {
        expect(tries, "the two requests never came within JOIN_WINDOW_MS of the report's lookup").toBeLessThan(5);
        continue;
      }
      for (const used of pair as { status: number; ms: number }[]) {
        if (date === undefined) expect(used).toMatchObject({ status: 200 });
        else expect(used).toMatchObject({ status: 503, code: "STORE_UNAVAILABLE" });
      }
      // Each answered within 1 s, on the Worker's clock (the client's counts the machine's load too: over 1 s once).
      for (const { came, answered } of joiners) expect(answered - came).toBeLessThan(1_000);
      leaked = made;
    }
    const inUrl = (headers: Record<string, string>) => at(`/remote/prices?api_key=${leaked.token}`, { headers });
    expect(await (await at("/remote/flushed")).json()).toBe("flushed");
    expect(await (await at(`/remote/leaks?id=${leaked.record.id}`)).json()).toBe(0);
    // Seen again (the report kept open by ctx.waitUntil(kw.flush()) this time): reported.
    expect((await inUrl({})).status).toBe(400);
    let reports = 0;
    for (let tries = 0; tries < 20 && reports === 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      reports = (await (await at(`/remote/leaks?id=${leaked.record.id}`)).json()) as number;
    }
    expect(reports).toBe(1);
  });

  it("bounds a store lookup by lookupTimeoutMs in a request that came while an earlier request's deadline timer was pending", async () => {
    const quick = await remote.setup();
    const slow = await remote.setup();
    // The earlier request's lookup arms the deadline timer (300 ms), and answers: workerd drops the timer.
    expect((await remote.call(quick.token, true)).status).toBe(200);
    await at("/remote/slow?ms=3000");
    try {
      const late = await remote.call(slow.token, true);
      expect(late).toMatchObject({ status: 503, code: "STORE_UNAVAILABLE" });
      expect(late.ms).toBeLessThan(1_500);
    } finally {
      await at("/remote/slow?ms=0");
    }
  });
});
