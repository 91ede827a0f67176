// A Worker module run by workerd (test/workerd/workerd.test.ts), bundled as
// a user's wrangler build bundles it: keyward's server core built once at
// module scope, as docs/frameworks.md says a Worker does, over MemoryStore;
// every route of the application behind one `fetch`:
// - /admin/*: keyward/admin (the customer "acct_1" is `Bearer session`);
// - /fetch/*: keyward/fetch, cost 1, the client IP from CF-Connecting-IP;
//   `kw.flush()` handed to ctx.waitUntil unless the request says
//   `x-wait-until: no`;
// - /hono/*: keyward/hono, scope premium:read, the IP from the same header;
// - /inside: keyward/client inside the Worker: a token and a key pair made
//   here, a request signed and sent over the network to this Worker's own
//   /fetch route (another request of the same isolate), and keyward/signing
//   and keyward/policy on their own;
// - /setup: an operator's kw.tokens.create with the JSON body (a rate limit,
//   an IP allowlist: what a customer's admin call may not set);
// - /remote/*: the same over a second Keyward whose store answers after a
//   round trip, as a Worker's lasting stores do (/remote/slow?ms=… makes its
//   lookups that slow), sharing anomaly state through it; /remote/flushed
//   says whether its kw.flush() ends within 3 s; /remote/instants, when (on
//   the Worker's clock, the one keyward reads) its store lookups started and
//   its /remote/prices requests came and were answered;
// - /state, /usage?id=…, /remote/leaks?id=…: what the module saw (the
//   hooks' decisions, the usage queue, the runtime's globals; a token's
//   usage; its leak reports), read without verifying anything.
import { Hono } from "hono";
import { createAdminHandler } from "../../src/admin/index.js";
import { createSigner, generateKeyPair, signedFetch } from "../../src/client/index.js";
import { keywardFetch } from "../../src/fetch/index.js";
import { type KeywardEnv, keywardHono } from "../../src/hono/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { scopesGrant } from "../../src/policy/index.js";
import { signRequest, verifyRequest } from "../../src/signing/index.js";

/** The part of a Worker's `ctx` this module calls (@cloudflare/workers-types is not a dependency). */
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

const decisions: string[] = [];
const kw = new Keyward({
  store: new MemoryStore(),
  prefix: "acme",
  sealingKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  usage: { onDecision: (e) => decisions.push(e.code) },
});
const getIp = (request: Request) => request.headers.get("cf-connecting-ip");

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * A store across the network, as every lasting store of a Worker is (D1, Hyperdrive, an HTTP API):
 * its answers come after a round trip, an event of the request that asked. Its lookups take
 * `lookupMs` (/remote/slow?ms=…).
 */
class RemoteStore extends MemoryStore {
  lookupMs = 0;
  /** When each lookup started. */
  readonly lookups: number[] = [];
  override async findByHash(...args: Parameters<MemoryStore["findByHash"]>): ReturnType<MemoryStore["findByHash"]> {
    this.lookups.push(Date.now());
    await wait(this.lookupMs);
    return super.findByHash(...args);
  }
  override async recordUsage(...args: Parameters<MemoryStore["recordUsage"]>): Promise<void> {
    await wait(50);
    return super.recordUsage(...args);
  }
  override async touchSeen(...args: Parameters<MemoryStore["touchSeen"]>): ReturnType<MemoryStore["touchSeen"]> {
    await wait(50);
    return super.touchSeen(...args);
  }
}
const remoteStore = new RemoteStore();
/** When each /remote/prices request came, and when it was answered. */
const remoteRequests: { came: number; answered?: number }[] = [];
const remote = new Keyward({
  store: remoteStore,
  prefix: "acme",
  lookupTimeoutMs: 300,
  usage: { flushIntervalMs: 100, writeTimeoutMs: 200 },
  // Sightings of new IPs shared through the store, written every 100 ms.
  anomalies: { newIp: true, shared: { flushIntervalMs: 100 } },
});
const remoteGuard = keywardFetch<[unknown, ExecutionContext]>(remote, { getIp }).requireToken({}, (_request, decision) => Response.json({ token: decision.tokenId }));
/** The Keyward a route of /remote/* (else /*) uses. */
const which = (url: URL) => (url.pathname.startsWith("/remote/") ? remote : kw);

const admin = createAdminHandler({
  keyward: kw,
  basePath: "/admin",
  authorize: (request) => (request.headers.get("authorization") === "Bearer session" ? "acct_1" : null),
});

const guarded = keywardFetch<[unknown, ExecutionContext]>(kw, { getIp }).requireToken({ scope: "core:read", cost: 1 }, async (request, decision) =>
  Response.json({ token: decision.tokenId, remaining: decision.remaining ?? null, body: await request.text() }),
);

const hono = new Hono<KeywardEnv>();
hono.get("/hono/premium", keywardHono(kw, { getIp: (c) => getIp(c.req.raw) }).requireToken({ scope: "premium:read" }), (c) =>
  c.json({ token: c.get("keyward").tokenId }),
);

/** keyward/client in the Worker: signs requests to this Worker's own /fetch route with a key pair and an hmac token made here. */
async function inside(origin: string): Promise<Response> {
  const pair = await generateKeyPair();
  const ed25519 = await kw.tokens.create({ owner: "acct_1", kind: "secret", requireSignedRequests: true, signing: { alg: "ed25519", publicKey: pair.publicKey } });
  const hmac = await kw.tokens.create({ owner: "acct_1", kind: "secret", requireSignedRequests: true, signing: { alg: "hmac-sha256" } });
  const send = async (f: typeof fetch, init?: RequestInit) => {
    const res = await f(`${origin}/fetch/inside`, init);
    return { status: res.status, body: await res.json() };
  };
  const key = { alg: "hmac-sha256" as const, secret: new Uint8Array(32).fill(7) };
  const signed = await signRequest(new Request("https://api.example.com/v1/y"), { keyid: "k1", key });
  return Response.json({
    ids: { ed25519: ed25519.record.id, hmac: hmac.record.id },
    ed25519: await send(signedFetch(createSigner({ keyId: ed25519.record.id, alg: "ed25519", privateKey: pair.privateKey })), { method: "POST", body: "from the worker" }),
    hmac: await send(signedFetch(createSigner({ keyId: hmac.record.id, alg: "hmac-sha256", token: hmac.token }))),
    lowLevel: { signed: (await verifyRequest(signed, { resolveKey: () => key })).ok, scope: scopesGrant(["core:*"], "core:read") },
  });
}

function state(kw: Keyward): Response {
  const timer = setTimeout(() => {}, 0);
  clearTimeout(timer);
  return Response.json({
    decisions,
    usage: kw.usage.stats(),
    globals: {
      process: typeof globalThis.process,
      Buffer: typeof (globalThis as { Buffer?: unknown }).Buffer,
      setImmediate: typeof (globalThis as { setImmediate?: unknown }).setImmediate,
      timer: typeof timer,
      FinalizationRegistry: typeof FinalizationRegistry,
      structuredClone: typeof structuredClone,
      performanceNow: typeof globalThis.performance?.now,
    },
  });
}

export default {
  async fetch(request: Request, env: unknown, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/admin/")) return admin(request);
    if (url.pathname.startsWith("/hono/")) return hono.fetch(request);
    if (url.pathname === "/inside") return inside(url.origin);
    if (url.pathname.endsWith("/state")) return state(which(url));
    if (url.pathname.endsWith("/setup")) {
      // An issued token's toJSON redacts the token: it is handed over by name, as keyward/admin does.
      const { token, record } = await which(url).tokens.create(await request.json());
      return Response.json({ token, record }, { status: 201 });
    }
    if (url.pathname === "/remote/slow") {
      remoteStore.lookupMs = Number(url.searchParams.get("ms"));
      return new Response(null, { status: 204 });
    }
    if (url.pathname === "/remote/instants") return Response.json({ lookups: remoteStore.lookups, requests: remoteRequests });
    const timed = url.pathname === "/remote/prices" ? remoteRequests[remoteRequests.push({ came: Date.now() }) - 1] : undefined;
    if (url.pathname === "/remote/flushed") {
      const within = wait(3_000).then(() => "still waiting after 3 s");
      return Response.json(await Promise.race([remote.flush().then(() => "flushed"), within]));
    }
    if (url.pathname === "/remote/leaks") {
      const { items } = await remote.tokens.audit({ tokenId: url.searchParams.get("id")! });
      return Response.json(items.filter((e) => e.action === "leak").length);
    }
    if (url.pathname.endsWith("/usage")) {
      const id = url.searchParams.get("id")!;
      const buckets = await which(url).usage.get(id, { from: Date.now() - 3_600_000, to: Date.now() + 3_600_000 });
      return Response.json({ allowed: buckets.reduce((n, b) => n + b.allowed, 0) });
    }
    const response = await (url.pathname.startsWith("/remote/") ? remoteGuard : guarded)(request, env, ctx);
    if (timed) timed.answered = Date.now();
    if (request.headers.get("x-wait-until") !== "no") ctx.waitUntil(which(url).flush());
    return response;
  },
};
