// The server-side core where there is no Node: `keyward`, `/policy`, `/signing`,
// `/hono`, `/fetch` and `/admin`, bundled for the browser platform as an
// application ships them to an edge runtime (no Node polyfills), run in a
// node:vm context that has Web APIs only. The context is shaped like a
// Cloudflare Worker: no `process`, `Buffer` or `setImmediate`; timers are
// numeric ids without `unref`; `navigator.userAgent` is workerd's; and while
// the module's top level runs (where an application builds its Keyward, its
// middleware and its admin handler), random values and timers are refused, as
// workerd refuses them in a Worker's global scope. Then each request runs in a
// "handler" as the Worker's fetch does, and the timers it armed are dropped
// once it has answered, as workerd drops them (without `ctx.waitUntil`): they
// never fire. test/workerd runs the same in a real workerd.
import vm from "node:vm";
import { build, type Metafile } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";

/** The part of Keyward the test calls. */
interface Kw {
  tokens: {
    create(input: unknown): Promise<{ token: string; record: { id: string } }>;
    revoke(id: string): Promise<unknown>;
  };
  verify(request: Request, options: unknown): Promise<{ ok: boolean; code?: string; status: number; retryAfterMs?: number }>;
  usage: { get(id: string, query: unknown): Promise<{ allowed: number; credits: number }[]>; stats(): { queued: number; written: number } };
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** What the application module hands its fetch handler and the test. */
interface App {
  /** The Worker's fetch: /hono (keyward/hono), /admin/* (keyward/admin), anything else keyward/fetch. */
  fetch(request: Request): Promise<Response>;
  kw: Kw;
  /** Another Keyward, over `lateStore`, whose lookups wait at most 50 ms. */
  late: Kw;
  lateStore: { hang: boolean };
  /** Another Keyward, over `stuckStore`, which writes usage after each decision and waits 50 ms at most for it. */
  stuck: Kw;
  stuckStore: { hang: boolean };
  /** The codes of the decisions kw's onDecision hook received. */
  decisions: string[];
  /** A request signed with keyward/client by a new ed25519 token's key. */
  signedEd25519(): Promise<Request>;
  /** A request signed with keyward/client by the hmac-sha256 key derived from `token`. */
  signedHmac(keyId: string, token: string): Promise<Request>;
  /** A Keyward whose logger pushes each event's name to `logged`. */
  timed(logged: string[]): Kw;
  /** keyward/signing and keyward/policy on their own. */
  lowLevel(): Promise<{ signed: boolean; scope: boolean }>;
  globals: Record<string, string>;
}

const ENTRIES = `
  import { Hono } from "hono";
  import { Keyward, MemoryStore } from "./src/index.ts";
  import { createAdminHandler } from "./src/admin/index.ts";
  import { createSigner, generateKeyPair } from "./src/client/index.ts";
  import { keywardFetch } from "./src/fetch/index.ts";
  import { keywardHono } from "./src/hono/index.ts";
  import { scopesGrant } from "./src/policy/index.ts";
  import { signRequest, verifyRequest } from "./src/signing/index.ts";

  // Module scope: what an application builds once, before any request.
  export const decisions = [];
  export const kw = new Keyward({
    store: new MemoryStore(),
    prefix: "acme",
    sealingKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    usage: { onDecision: (e) => decisions.push(e.code) },
  });
  // A store answering lookups on a later tick, as a database does, or never once told to hang.
  class LateStore extends MemoryStore {
    hang = false;
    async findByHash(hash) {
      await null;
      return this.hang ? new Promise(() => {}) : super.findByHash(hash);
    }
  }
  export const lateStore = new LateStore();
  export const late = new Keyward({ store: lateStore, prefix: "acme", lookupTimeoutMs: 50 });
  // A store whose usage writes answer on a later tick, as a database does, or never once told to hang.
  class StuckStore extends MemoryStore {
    hang = false;
    async recordUsage(events, batch) {
      await null;
      return this.hang ? new Promise(() => {}) : super.recordUsage(events, batch);
    }
  }
  export const stuckStore = new StuckStore();
  export const stuck = new Keyward({ store: stuckStore, prefix: "acme", usage: { flushIntervalMs: 0, writeTimeoutMs: 50 } });
  const hono = new Hono();
  hono.get("/hono", keywardHono(kw).requireToken({ scope: "core:read" }), (c) => c.json({ token: c.get("keyward").tokenId }));
  const guarded = keywardFetch(kw).requireToken({ scope: "core:read", cost: 1 }, (_request, d) => Response.json({ token: d.tokenId, remaining: d.remaining }));
  const admin = createAdminHandler({ keyward: kw, basePath: "/admin", authorize: (r) => (r.headers.get("authorization") === "Bearer session" ? "acct_1" : null) });

  export async function fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/hono") return hono.fetch(request);
    if (path.startsWith("/admin/")) return admin(request);
    return guarded(request);
  }
  export async function signedEd25519() {
    const pair = await generateKeyPair();
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", requireSignedRequests: true, signing: { alg: "ed25519", publicKey: pair.publicKey } });
    const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.privateKey });
    return signer.sign(new Request("https://api.example.com/v1/x", { method: "POST", body: "hello" }));
  }
  export function signedHmac(keyId, token) {
    return createSigner({ keyId, alg: "hmac-sha256", token }).sign(new Request("https://api.example.com/v1/x"));
  }
  export async function lowLevel() {
    const key = { alg: "hmac-sha256", secret: new Uint8Array(32).fill(7) };
    const signed = await signRequest(new Request("https://api.example.com/v1/y"), { keyid: "k1", key });
    return { signed: (await verifyRequest(signed, { resolveKey: () => key })).ok, scope: scopesGrant(["core:*"], "core:read") };
  }
  /** A Keyward that times its decisions for a logger. */
  export function timed(logged) {
    return new Keyward({ store: new MemoryStore(), prefix: "acme", telemetry: { logger: (e) => logged.push(e.event) } });
  }
  export const globals = { process: typeof process, Buffer: typeof Buffer, setImmediate: typeof setImmediate };
`;

let metafile: Metafile;
let app: App;
/** The same module, in a context without `performance`. */
let withoutPerformance: App;
/** Whether the context is running its "global scope" (random values and timers refused). */
let globalScope = true;
/** Timers the context armed and has not cleared, or that have not fired. */
const live = new Map<number, ReturnType<typeof setTimeout>>();
/** Timers armed during the request being handled. */
let armed: number[] = [];
/** What the context's `performance.now()` runs ahead of this realm's: time passing between requests. */
let skewMs = 0;

/**
 * Runs `handle` as a Worker handles a request, then drops the timers it armed that are still
 * pending, as workerd does once a request has answered (no `ctx.waitUntil`).
 */
async function request<T>(handle: () => Promise<T>): Promise<T> {
  armed = [];
  try {
    return await handle();
  } finally {
    for (const id of armed) {
      clearTimeout(live.get(id));
      live.delete(id);
    }
    // Let the answer's continuations run (as they do before workerd closes the request).
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A Worker's timers: numeric ids (no unref, no ref), refused in the global scope. */
function workerTimers() {
  let next = 1;
  const refuse = () => {
    if (globalScope) throw new Error("Disallowed operation called within global scope: setting a timeout");
  };
  const clear = (id: number) => {
    const handle = live.get(id);
    clearTimeout(handle); // Node clears an interval with either
    live.delete(id);
  };
  return {
    setTimeout: (fn: () => void, ms?: number) => {
      refuse();
      const id = next++;
      armed.push(id);
      live.set(
        id,
        setTimeout(() => {
          live.delete(id);
          fn();
        }, ms),
      );
      return id;
    },
    setInterval: (fn: () => void, ms?: number) => {
      refuse();
      const id = next++;
      armed.push(id);
      live.set(id, setInterval(fn, ms));
      return id;
    },
    clearTimeout: clear,
    clearInterval: clear,
  };
}

beforeAll(async () => {
  const result = await build({
    stdin: { contents: ENTRIES, resolveDir: new URL("../../", import.meta.url).pathname, loader: "ts" },
    bundle: true,
    format: "iife",
    globalName: "app",
    platform: "browser",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  metafile = result.metafile;
  const crypto = {
    subtle: globalThis.crypto.subtle,
    getRandomValues<T extends ArrayBufferView>(array: T): T {
      if (globalScope) throw new Error("Disallowed operation called within global scope: generating random values");
      return globalThis.crypto.getRandomValues(array as never);
    },
    randomUUID: () => globalThis.crypto.randomUUID(),
  };
  const webApis = {
    ...workerTimers(),
    crypto,
    CryptoKey,
    Request,
    Response,
    Headers,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    ReadableStream,
    WritableStream,
    TransformStream,
    AbortController,
    AbortSignal,
    Blob,
    FormData,
    DOMException,
    Event,
    EventTarget,
    atob,
    btoa,
    structuredClone,
    queueMicrotask,
    console,
  };
  // workerd's navigator.userAgent: keyward knows there that a request's timers die with it.
  const context = vm.createContext({ ...webApis, navigator: { userAgent: "Cloudflare-Workers" }, performance: { now: () => performance.now() + skewMs } });
  vm.runInContext(result.outputFiles[0]!.text, context);
  // A sandbox with no `performance` at all (node:vm as some hosts set it up).
  const bare = vm.createContext({ ...webApis });
  vm.runInContext(result.outputFiles[0]!.text, bare);
  globalScope = false;
  app = vm.runInContext("app", context) as App;
  withoutPerformance = vm.runInContext("app", bare) as App;
}, 30_000);

const bearer = (token: string, path = "/v1/x") => new Request(`https://api.example.com${path}`, { headers: { authorization: `Bearer ${token}` } });

describe("the core in a Web-API-only context shaped like a Worker", () => {
  it("bundles for the browser platform with no node: import and no external", () => {
    for (const [path, input] of Object.entries(metafile.inputs)) {
      for (const imp of input.imports) expect(imp.path.startsWith("node:") || (imp.external ?? false), `${path} imports ${imp.path}`).toBe(false);
    }
    expect(app.globals).toEqual({ process: "undefined", Buffer: "undefined", setImmediate: "undefined" });
  });

  it("builds Keyward, the middleware and the admin handler in the global scope (no random value, no timer)", () => {
    // beforeAll ran the module's top level with both refused; reaching here means it threw nothing.
    expect(typeof app.fetch).toBe("function");
    expect(live.size).toBe(0);
  });

  it("issues, verifies (bearer, ed25519, hmac-sha256), revokes; meters credits and a rate limit", () =>
    request(async () => {
      const { kw } = app;
      const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"], credits: { limit: 3 } });
      expect(await kw.verify(bearer(token), { scope: "core:read" })).toMatchObject({ ok: true });
      expect(await kw.verify(bearer(token), { scope: "premium:read" })).toMatchObject({ ok: false, code: "SCOPE_DENIED" });
      expect(await kw.verify(bearer(token), { scope: "core:read", cost: 5 })).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", status: 402 });
      expect(await kw.verify(await app.signedEd25519(), {})).toMatchObject({ ok: true });
      const hmac = await kw.tokens.create({ owner: "acct_1", kind: "secret", requireSignedRequests: true, signing: { alg: "hmac-sha256" } });
      expect(await kw.verify(await app.signedHmac(hmac.record.id, hmac.token), {})).toMatchObject({ ok: true });
      expect(await kw.verify(bearer(hmac.token), {})).toMatchObject({ ok: false, code: "SIGNATURE_REQUIRED" });
      const limited = await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 2, windowMs: 60_000 } });
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await kw.verify(bearer(limited.token), {})).code);
      expect(codes).toEqual(["OK", "OK", "RATE_LIMITED"]);
      await kw.tokens.revoke(record.id);
      expect(await kw.verify(bearer(token), { scope: "core:read" })).toMatchObject({ ok: false, code: "TOKEN_REVOKED" });
      expect(await app.lowLevel()).toEqual({ signed: true, scope: true });
    }));

  it("a later request does what the timers an earlier one armed were to do: onDecision hooks, usage writes", async () => {
    const { kw } = app;
    const { token, record } = await request(() => kw.tokens.create({ owner: "acct_1", kind: "secret" }));
    const delivered = app.decisions.length;
    // Its hook and flush timers are dropped once it answers: nothing delivered, nothing written.
    expect(await request(() => kw.verify(bearer(token), {}))).toMatchObject({ ok: true });
    expect(app.decisions).toHaveLength(delivered);
    expect(kw.usage.stats().queued).toBeGreaterThan(0);
    skewMs += 5_000;
    expect(await request(() => kw.verify(bearer(token), {}))).toMatchObject({ ok: true });
    // The earlier request's decision, delivered by this one; its usage written.
    expect(app.decisions.length).toBeGreaterThan(delivered);
    expect(app.decisions.at(-1)).toBe("OK");
    const usage = await request(() => kw.usage.get(record.id, { from: Date.now() - 86_400_000, granularity: "hour" }));
    expect(usage.reduce((n, b) => n + b.allowed, 0)).toBeGreaterThanOrEqual(1);
  });

  // The next request comes 5 s later (the timer was due), or at once (it would still be pending: the lookup needs a timer of its own).
  it.each([
    ["after the deadline timer an earlier request armed was dropped", 5_000],
    ["when the deadline timer an earlier request armed is dropped before it is due", 0],
  ])("a store call is abandoned %s", async (_, laterMs) => {
    const { late, lateStore } = app;
    const a = await request(() => late.tokens.create({ owner: "acct_1", kind: "secret" }));
    const b = await request(() => late.tokens.create({ owner: "acct_1", kind: "secret" }));
    // A quick lookup arms the deadline timer (50 ms), dropped once the request answers.
    expect(await request(() => late.verify(bearer(a.token), {}))).toMatchObject({ ok: true });
    skewMs += laterMs;
    lateStore.hang = true;
    const hung = new Promise<string>((resolve) => setTimeout(() => resolve("still waiting after 2 s"), 2_000));
    const decided = request(() => late.verify(bearer(b.token), {})).then((d) => d.code ?? "ok");
    expect(await Promise.race([decided, hung])).toBe("STORE_UNAVAILABLE");
    lateStore.hang = false;
    await request(() => late.close());
  });

  it("a usage write whose answer and deadline were dropped with its request is written again by a later request", async () => {
    const { stuck, stuckStore } = app;
    const { token, record } = await request(() => stuck.tokens.create({ owner: "acct_1", kind: "secret" }));
    stuckStore.hang = true;
    // The decision's write starts during the request; the request answers first, and its timers are dropped.
    expect(await request(() => stuck.verify(bearer(token), {}))).toMatchObject({ ok: true });
    stuckStore.hang = false;
    skewMs += 5_000;
    expect(await request(() => stuck.verify(bearer(token), {}))).toMatchObject({ ok: true });
    // That decision took the cut-off write back, and wrote its batch again with its own (docs/monitoring.md).
    expect(stuck.usage.stats()).toMatchObject({ queued: 0, written: 2, failedWrites: 1 });
    const written = new Promise<string>((resolve) => setTimeout(() => resolve("flush still waiting after 2 s"), 2_000));
    expect(await Promise.race([request(() => stuck.flush()).then(() => "flushed"), written])).toBe("flushed");
    const usage = await request(() => stuck.usage.get(record.id, { from: Date.now() - 86_400_000, granularity: "hour" }));
    expect(usage.reduce((n, b) => n + b.allowed, 0)).toBe(2);
    expect(stuck.usage.stats()).toMatchObject({ queued: 0, written: 2, failedWrites: 1, dropped: 0 });
    await request(() => stuck.close());
  });

  it("kw.flush() waits for a leak report cut off with its request no longer than a second past its deadlines", async () => {
    const { late, lateStore } = app;
    const { token } = await request(() => late.tokens.create({ owner: "acct_1", kind: "secret" }));
    // The request is answered at once; the report's lookup in the background hangs, and its deadline timer is dropped.
    lateStore.hang = true;
    const inUrl = new Request(`https://api.example.com/v1/x?api_key=${token}`);
    expect(await request(() => late.verify(inUrl, {}))).toMatchObject({ ok: false, code: "TOKEN_IN_URL" });
    lateStore.hang = false;
    skewMs += 5_000;
    const waiting = new Promise<string>((resolve) => setTimeout(() => resolve("flush still waiting after 2 s"), 2_000));
    expect(await Promise.race([request(() => late.flush()).then(() => "flushed"), waiting])).toBe("flushed");
  });

  it("times decisions with the wall clock where there is no performance.now", () =>
    request(async () => {
      const logged: string[] = [];
      const kw = withoutPerformance.timed(logged);
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
      expect(await kw.verify(bearer(token), {})).toMatchObject({ ok: true });
      expect(logged).toContain("decision");
      await kw.close();
    }));

  it("answers through keyward/hono, keyward/fetch and keyward/admin; writes usage; close() leaves no timer", () =>
    request(async () => {
      const { kw } = app;
      const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 2 } });
      const hono = await app.fetch(bearer(token, "/hono"));
      expect(hono.status).toBe(200);
      expect(await hono.json()).toEqual({ token: record.id });
      const fetched = await app.fetch(bearer(token, "/v1/prices"));
      expect(await fetched.json()).toEqual({ token: record.id, remaining: 0 });
      const exhausted = await app.fetch(bearer(token, "/v1/prices"));
      expect(exhausted.status).toBe(402);
      expect(exhausted.headers.get("content-type")).toBe("application/problem+json");
      expect((await app.fetch(bearer("acme_sk_live_nope", "/hono"))).status).toBe(401);
      const list = await app.fetch(new Request("https://api.example.com/admin/tokens", { headers: { authorization: "Bearer session" } }));
      expect(list.status).toBe(200);
      expect(((await list.json()) as { items: { id: string }[] }).items.map((t) => t.id)).toContain(record.id);
      await kw.flush();
      const usage = await kw.usage.get(record.id, { from: Date.now() - 86_400_000, granularity: "hour" });
      expect(usage.reduce((n, b) => n + b.allowed, 0)).toBe(2);
      await kw.close();
      expect(live.size).toBe(0);
    }));
});
