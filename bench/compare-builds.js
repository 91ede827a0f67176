// This build next to another one, in one process: the metered checks of
// bench/accounts.js (meteringShapes) and MemoryStore.meter on 10 000 keys,
// for changes whose effect is smaller than the drift between two runs; then
// the checks while a full cache keeps evicting (bench/verify.js `churn`),
// each build on a working set of its own, one after the other. With
// COMPARE=signing, the worst verifyRequest cases of bench/signing.js instead;
// with COMPARE=paths, the request path's everyday calls (warm and cold checks,
// warm verify(Request), signing and verifying a request); with COMPARE=warm,
// the warm check and verify(Request) in many short rounds, with the floor;
// with COMPARE=sign, signRequest (Ed25519 and HMAC, both builds, the URL form
// too) against the peer's signMessage, likewise, and signedFetch of both builds
// with a fetch that answers at once (a 204 Response).
//
//   git worktree add /tmp/kw-old <rev> && (cd /tmp/kw-old && npm ci && npx tsup)
//   npm run build && KEYWARD_OLD_DIST=/tmp/kw-old/dist BENCH_ROUNDS=5 node --expose-gc bench/compare-builds.js
//   (COMPARE=paths, COMPARE=signing, COMPARE=warm or COMPARE=sign in front for the other comparisons)
//
// REVERSED=1 lists this build's rows first (the rounds alternate the order anyway).
import { generateKeyPairSync } from "node:crypto";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { meteringShapes } from "./accounts.js";
import { runGroup } from "./harness.js";
import { worstCases } from "./signing.js";
import { churn } from "./verify.js";

const oldDist = process.env.KEYWARD_OLD_DIST;
if (!oldDist) throw new Error("set KEYWARD_OLD_DIST to the dist/ folder of the build to compare with");
const entry = process.env.COMPARE === "signing" || process.env.COMPARE === "sign" ? "signing.js" : "index.js";
const load = (dir, file) => import(pathToFileURL(join(resolve(dir), file)).href);
const builds = [
  ["before: ", await load(oldDist, entry)],
  ["after: ", await load("dist", entry)],
];
if (process.env.REVERSED) builds.reverse();
const ms = Number(process.env.BENCH_MS ?? 500);

if (process.env.COMPARE === "signing") {
  const options = { created: Math.floor(Date.now() / 1000), hmacKey: { alg: "hmac-sha256", secret: crypto.getRandomValues(new Uint8Array(32)) } };
  const cases = [];
  for (const [tag, lib] of builds) {
    // The requests within the default limits, and the last one, which maxParameters now refuses
    // (the build before may refuse the requests meant to be refused with other codes).
    const all = await worstCases(lib, options, tag, { anyDenial: tag === "before: " });
    cases.push(...all.filter((c) => c.within), all.at(-1));
  }
  await runGroup("verifyRequest: the worst requests within the defaults, two builds (hmac-sha256)", cases, { ms });
  process.exit(0);
}

const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
const [SEED, PUBLIC] = [jwk.d, jwk.x].map((b64) => new Uint8Array(Buffer.from(b64, "base64url")));
const SECRET = crypto.getRandomValues(new Uint8Array(32));

if (process.env.COMPARE === "sign") {
  await signRatios();
  process.exit(0);
}

if (process.env.COMPARE === "warm") {
  await warmRatios();
  process.exit(0);
}

if (process.env.COMPARE === "paths") {
  const cases = [];
  for (const [[tag, lib], dir] of builds.map((b, i) => [b, i === 0 ? oldDist : "dist"])) {
    cases.push(...(await everydayCalls(tag, lib, await load(dir, "sqlite.js"), await load(dir, "signing.js"))));
  }
  await runGroup("The request path's everyday calls, two builds (default options)", cases, { ms });
  process.exit(0);
}

/**
 * COMPARE=warm: the warm bearer check and the warm verify(Request) of both
 * builds, for differences smaller than the drift of ordinary rounds: many
 * short rounds (BENCH_ROUNDS, default 60, of 20 000 calls), the builds and
 * the floor (one SHA-256 + Map.get, as in bench/verify.js) in alternating
 * order within each round, and the median of the per-round ratios with its
 * quartiles: after / before, and each build over the floor. A pause of the
 * host lands in a few rounds, not in the median.
 */
async function warmRatios() {
  const { hash } = await import("node:crypto");
  const rounds = Number(process.env.BENCH_ROUNDS ?? 60);
  const calls = 20_000;
  const rows = { floor: [] };
  for (const [tag, lib] of builds) {
    const kw = new lib.Keyward({ store: new lib.MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    const request = new Request("https://api.example.com/v1/x", { headers: { authorization: `Bearer ${token}` } });
    rows[`${tag}warm check`] = [() => kw.check({ token, scope: "core:read" })];
    rows[`${tag}warm verify(Request)`] = [() => kw.verify(request, { scope: "core:read" })];
    if (rows.floor.length === 0) {
      const map = new Map([[hash("sha256", token, "hex"), { id: "tok_x" }]]);
      let sink = 0;
      rows.floor.push(() => {
        if (map.get(hash("sha256", token, "hex"))) sink++;
        return sink;
      });
    }
  }
  const ratio = await alternatingRounds(Object.fromEntries(Object.entries(rows).map(([name, [fn]]) => [name, fn])), rounds, calls);
  console.log(`### Warm calls, two builds: median of ${rounds} per-round ratios of ${calls} calls (speed, higher is faster)\n`);
  console.log("| call | after / before | before / floor | after / floor |\n| --- | ---: | ---: | ---: |");
  for (const call of ["warm check", "warm verify(Request)"]) {
    const [before, after] = [`before: ${call}`, `after: ${call}`];
    console.log(`| ${call} | ${ratio(after, before)} | ${ratio(before, "floor")} | ${ratio(after, "floor")} |`);
  }
}

/**
 * Times each of `rows` (name → function) for `calls` calls per round, over
 * `rounds` rounds, in alternating order within each round (forward, then
 * backward), after one warm-up round; with `gc` (and --expose-gc), a
 * collection before each, so that the garbage of one row (the streams of a
 * Request) is not collected in another's time. Returns `ratio(x, base)`: the speed of
 * row `x` relative to row `base` per round (base's time over x's), as the
 * median of the rounds with its quartiles, so a pause of the host lands in a
 * few rounds, not in the median.
 */
async function alternatingRounds(rows, rounds, calls, { gc = false } = {}) {
  const time = async (fn, n) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await fn();
    return (performance.now() - t) / n;
  };
  const names = Object.keys(rows);
  for (const name of names) await time(rows[name], calls); // warm-up
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      if (gc) globalThis.gc?.();
      times[name].push(await time(rows[name], calls));
    }
  }
  return (x, base) => {
    const q = times[x].map((t, i) => times[base][i] / t).sort((a, b) => a - b);
    const at = (f) => q[Math.min(q.length - 1, Math.floor(f * q.length))].toFixed(3);
    return `${at(0.5)} (quartiles ${at(0.25)}–${at(0.75)})`;
  };
}

/**
 * COMPARE=sign: signRequest with an Ed25519 key and with HMAC, both builds,
 * against http-message-signatures' signMessage, on bench/signing.js's POST
 * (a JSON body; @method @target-uri content-digest; created, keyid, alg): the
 * Request form, the caller building the Request in the timed function, of
 * both builds, and this build's URL form, signRequest(url, init, options);
 * and signedFetch(createSigner(…), stub)(url, init) of both builds, the
 * stub a fetch answering a 204 at once (the signing path of a call, without
 * the network). Many short rounds (BENCH_ROUNDS, default 30, of BENCH_CALLS, default
 * 2 000, calls) in alternating order; the median of the per-round speed
 * ratios, with their quartiles.
 */
async function signRatios() {
  const { createPrivateKey } = await import("node:crypto");
  const { createSigner: peerSigner, httpbis } = await import("http-message-signatures");
  const rounds = Number(process.env.BENCH_ROUNDS ?? 30);
  const calls = Number(process.env.BENCH_CALLS ?? 2_000);
  const url = "https://api.example.com/v1/prices?symbol=X";
  const body = JSON.stringify({ symbol: "X", side: "buy", quantity: 100, limit: 101.25, tif: "gtc", clientOrderId: "ord_7f3a9c2e41b8" });
  const init = () => ({ method: "POST", body, headers: { "content-type": "application/json" } });
  const components = ["@method", "@target-uri", "content-digest"];
  const created = Math.floor(Date.now() / 1000);
  const keys = { ed25519: { alg: "ed25519", privateKey: SEED }, hmac: { alg: "hmac-sha256", secret: SECRET } };
  // The peer's key as its README gives it (a KeyObject for Ed25519, a Buffer for HMAC), as in bench/signing.js.
  const peerKeys = { ed25519: createPrivateKey({ key: jwk, format: "jwk" }), hmac: Buffer.from(SECRET) };
  const before = builds.find(([tag]) => tag === "before: ")[1];
  const after = builds.find(([tag]) => tag === "after: ")[1];
  // signedFetch as a caller uses it (createSigner's defaults: nonce, expires, content-digest), with a
  // fetch that answers at once: the signing path of a call without the network.
  const clients = { before: await load(oldDist, "client.js"), after: await load("dist", "client.js") };
  const stub = () => Promise.resolve(new Response(null, { status: 204 }));
  const signerKeys = { ed25519: { alg: "ed25519", privateKey: SEED }, hmac: { alg: "hmac-sha256", secret: SECRET } };
  const rows = {};
  for (const [name, key] of Object.entries(keys)) {
    const options = { keyId: "tok_2Qx7mK9pLr", key, components, created };
    const peer = {
      key: peerSigner(peerKeys[name], key.alg, "tok_2Qx7mK9pLr"),
      name: "sig1",
      fields: components,
      params: ["created", "keyid", "alg"],
      paramValues: { created: new Date(created * 1000) },
    };
    const plain = { method: "POST", url, headers: { "content-type": "application/json", "content-digest": before.computeContentDigest(body) } };
    // The same fields from both builds, both forms and the peer, or the comparison is void.
    const expected = [...(await before.signRequest(new Request(url, init()), options)).headers].filter(([n]) => n !== "content-type");
    for (const signed of [await after.signRequest(new Request(url, init()), options), await after.signRequest(url, init(), options)]) {
      if (JSON.stringify([...signed.headers].filter(([n]) => n !== "content-type")) !== JSON.stringify(expected)) {
        throw new Error("benchmark setup: the builds sign differently");
      }
    }
    const theirs = (await httpbis.signMessage(peer, plain)).headers;
    if (theirs.Signature !== Object.fromEntries(expected).signature) throw new Error("benchmark setup: the peer signs differently");
    rows[`${name} peer signMessage`] = () => httpbis.signMessage(peer, plain);
    rows[`${name} before: signRequest(new Request)`] = () => before.signRequest(new Request(url, init()), options);
    rows[`${name} after: signRequest(new Request)`] = () => after.signRequest(new Request(url, init()), options);
    rows[`${name} after: signRequest(url, init)`] = () => after.signRequest(url, init(), options);
    const fetches = {};
    for (const [tag, client] of Object.entries(clients)) {
      // Without a nonce and with one clock, both builds must send the same Request.
      const sent = [];
      const fixed = client.createSigner({ keyId: "tok_2Qx7mK9pLr", ...signerKeys[name], nonce: false, now: () => created * 1000 });
      await client.signedFetch(fixed, (r) => {
        sent.push(r);
        return stub();
      })(url, init());
      fetches[tag] = JSON.stringify([sent[0].url, sent[0].method, [...sent[0].headers], await sent[0].text()]);
      const f = client.signedFetch(client.createSigner({ keyId: "tok_2Qx7mK9pLr", ...signerKeys[name] }), stub);
      rows[`${name} ${tag}: signedFetch`] = () => f(url, init());
    }
    if (fetches.before !== fetches.after) throw new Error("benchmark setup: the builds' signedFetch send different requests");
  }
  const ratio = await alternatingRounds(rows, rounds, calls, { gc: true });
  console.log(`### signRequest, two builds and the peer: median of ${rounds} per-round ratios of ${calls} calls (speed, higher is faster)\n`);
  console.log("| key | before / peer | after, Request / peer | after, url + init / peer | after, url + init / before | signedFetch, after / before |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const name of Object.keys(keys)) {
    const peer = `${name} peer signMessage`;
    const [b, r, u] = ["before: signRequest(new Request)", "after: signRequest(new Request)", "after: signRequest(url, init)"].map((n) => `${name} ${n}`);
    const fetched = ratio(`${name} after: signedFetch`, `${name} before: signedFetch`);
    console.log(`| ${name} | ${ratio(b, peer)} | ${ratio(r, peer)} | ${ratio(u, peer)} | ${ratio(u, b)} | ${fetched} |`);
  }
}

/** Warm and cold bearer checks, a warm verify(Request), and HMAC / Ed25519 signing and verifying, of one build. */
async function everydayCalls(tag, lib, { sqliteStore }, signing) {
  const kw = new lib.Keyward({ store: new lib.MemoryStore(), prefix: "acme" });
  const { token } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
  const request = new Request("https://api.example.com/v1/x", { headers: { authorization: `Bearer ${token}` } });
  const cold = new lib.Keyward({ store: new lib.MemoryStore(), prefix: "acme", cache: { maxEntries: 0 } });
  const { token: coldToken } = await cold.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
  const sq = new lib.Keyward({ store: sqliteStore(":memory:"), prefix: "acme", cache: { maxEntries: 0 } });
  const { token: sqToken } = await sq.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
  const url = "https://api.example.com/v1/prices?symbol=X";
  const body = JSON.stringify({ symbol: "X", side: "buy", quantity: 100 });
  const post = () => new Request(url, { method: "POST", body, headers: { "content-type": "application/json" } });
  const created = Math.floor(Date.now() / 1000);
  const hmac = { alg: "hmac-sha256", secret: SECRET };
  const ed = { alg: "ed25519", privateKey: SEED };
  const get = new Request(url);
  const hmacSigned = await signing.signRequest(get, { keyId: "tok_x", key: hmac, created });
  const edSigned = await signing.signRequest(post(), { keyId: "tok_x", key: ed, created });
  const edPublic = { alg: "ed25519", publicKey: PUBLIC };
  const bytes = new TextEncoder().encode(body);
  return [
    { name: `${tag}warm check`, fn: () => kw.check({ token, scope: "core:read" }) },
    { name: `${tag}warm verify(Request)`, fn: () => kw.verify(request, { scope: "core:read" }) },
    { name: `${tag}cold check, MemoryStore`, fn: () => cold.check({ token: coldToken, scope: "core:read" }) },
    { name: `${tag}cold check, SQLite`, fn: () => sq.check({ token: sqToken, scope: "core:read" }) },
    { name: `${tag}hmac GET signatureHeaders`, fn: () => signing.signatureHeaders(get, { keyId: "tok_x", key: hmac, created }) },
    { name: `${tag}hmac GET verifyRequest`, fn: () => signing.verifyRequest(hmacSigned, { resolveKey: () => hmac }) },
    { name: `${tag}ed25519 POST verifyRequest, body given`, fn: () => signing.verifyRequest(edSigned, { resolveKey: () => edPublic, body: bytes }) },
    { name: `${tag}ed25519 POST signRequest, body given`, fn: () => signing.signRequest(post(), { keyId: "tok_x", key: ed, created, body }) },
  ];
}

const shapes = [];
for (const [tag, lib] of builds) shapes.push(await meteringShapes(lib, tag));
await runGroup("Metered kw.check, two builds (MemoryStore, usage recording on)", shapes.flatMap((s) => s.cases), { ms });
for (const s of shapes) await s.kw.close();

const KEYS = 10_000;
const requests = Array.from({ length: KEYS }, (_, i) => ({ tokenId: `tok_${i}`, cost: 0, rateLimit: { limit: 1e12, windowMs: 60_000 }, credits: null }));
await runGroup(
  `MemoryStore.meter({ rateLimit }), ${KEYS.toLocaleString("en-US")} keys round-robin, two builds`,
  builds.map(([tag, lib]) => {
    const store = new lib.MemoryStore();
    let i = 0;
    return { name: `${tag}MemoryStore.meter`, fn: () => store.meter(requests[i++ % KEYS], Date.now()) };
  }),
  { ms },
);

const N = Number(process.env.BENCH_TOKENS ?? 100_000);
for (const [tag, lib] of builds) {
  const store = new lib.MemoryStore();
  const maker = new lib.Keyward({ store, prefix: "acme", usage: { enabled: false } });
  const tokens = [];
  for (let i = 0; i < N; i++) tokens.push((await maker.tokens.create({ owner: `acct_${i % 1000}`, kind: "secret" })).token);
  console.log(`${tag.trim()}\n\n${await churn(lib.Keyward, store, tokens)}`);
}
