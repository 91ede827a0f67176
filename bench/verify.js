// Bearer verification on MemoryStore, with default options unless a row says
// otherwise: warm cache and cold path (cache miss), next to the floor
// measured in the same run: one SHA-256 of the token string with hex output
// (node's one-shot crypto.hash) plus one Map.get. Then the request path at
// scale: 100 000 cached tokens round-robin, the worst single check after a
// full cache, bytes per cached and stored token, and bytes allocated per cold
// check. The peer (better-auth) is compared in a group of its own, run last
// (benchVerifyPeer).
import { hash } from "node:crypto";
import { PerformanceObserver } from "node:perf_hooks";
import { Keyward, MAX_CREDIT_BALANCE, MemoryStore } from "../dist/index.js";
import { runGroup } from "./harness.js";

export async function benchVerify({ ms }) {
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme" });
  const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
  const request = new Request("https://api.example.com/v1/prices", { headers: { authorization: `Bearer ${token}` } });
  const unmetered = new Keyward({ store, prefix: "acme", usage: { enabled: false } });

  // Cold: caching off, so every call looks the token up in the store.
  const cold = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 } });
  const { token: limited } = await kw.tokens.create({
    owner: "acct_1",
    kind: "secret",
    credits: { limit: MAX_CREDIT_BALANCE },
    rateLimit: { limit: 1e12, windowMs: 1000 },
  });

  const floorMap = new Map([[hash("sha256", token, "hex"), { id: "tok_x" }]]);
  let sink = 0;
  const rows = await runGroup(
    "Bearer verification (MemoryStore, default options: usage metering on)",
    [
      {
        name: "floor: crypto.hash sha256 hex + Map.get",
        fn: () => {
          if (floorMap.get(hash("sha256", token, "hex"))) sink++;
        },
      },
      { name: "kw.check({ token, scope }), warm cache", fn: () => kw.check({ token, scope: "core:read" }) },
      { name: "kw.check({ token, scope }), warm cache, usage metering off", fn: () => unmetered.check({ token, scope: "core:read" }) },
      { name: "kw.verify(request, { scope }), warm cache", fn: () => kw.verify(request, { scope: "core:read" }) },
      // As the middleware call it: with the socket address (normalised once per distinct address).
      { name: "kw.verify(request, { scope, ip }), warm cache", fn: () => kw.verify(request, { scope: "core:read", ip: "::ffff:203.0.113.7" }) },
      {
        // What verify must read of a Fetch Request on the server-to-server path, and nothing else:
        // Authorization, Signature-Input, Origin and Sec-Fetch-Site, the URL, and a promise.
        name: "floor + the Request reads verify needs (4 Headers.get, url, a promise)",
        fn: () => {
          const h = request.headers;
          const auth = h.get("authorization");
          if (h.get("signature-input") === null && h.get("origin") === null && h.get("sec-fetch-site") === null && request.url.length > 0) {
            if (floorMap.get(hash("sha256", auth.slice(7), "hex"))) sink++;
          }
          return Promise.resolve(sink);
        },
      },
      { name: "kw.check, cold (cache off: store lookup every call)", fn: () => cold.check({ token, scope: "core:read" }) },
      { name: "kw.check + rate limit + credits (metered)", fn: () => kw.check({ token: limited, cost: 1 }) },
    ],
    { ms },
  );
  if (sink === -1) console.log(sink); // keeps the floor's work observable
  const d = await kw.check({ token, scope: "core:read" });
  if (!d.ok) throw new Error(`benchmark token was denied: ${d.code}`);
  await benchScale({ ms });
  return rows;
}

/**
 * kw.check next to better-auth's API-key plugin, in one group. Run last of
 * all (bench/run.js): once better-auth is loaded, its AsyncLocalStorage makes
 * every promise in the process cost more (a warm `kw.check` measured about
 * 25 % slower after it merely initialised), which would lower every later
 * figure that returns a promise, and not the synchronous floors.
 */
export async function benchVerifyPeer({ ms }) {
  const { betterAuthVerifier } = await import("./peers/better-auth.js");
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
  const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
  const peer = await betterAuthVerifier();
  const floorMap = new Map([[hash("sha256", token, "hex"), { id: "tok_x" }]]);
  let sink = 0;
  const rows = await runGroup(
    "Bearer verification next to the peer (better-auth loaded in the process: AsyncLocalStorage in use)",
    [
      {
        name: "floor: crypto.hash sha256 hex + Map.get",
        fn: () => {
          if (floorMap.get(hash("sha256", token, "hex"))) sink++;
        },
      },
      { name: "kw.check({ token, scope }), warm cache", fn: () => kw.check({ token, scope: "core:read" }) },
      { name: "peer: better-auth api-key verifyApiKey (memory adapter)", fn: peer.verify },
    ],
    { ms },
  );
  if (sink === -1) console.log(sink);
  return rows;
}

/** Many tokens: a working set of 100 000 cached tokens, eviction, memory, allocation. */
async function benchScale({ ms }) {
  const N = Number(process.env.BENCH_TOKENS ?? 100_000);
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme", cache: { maxEntries: N } });
  const tokens = [];
  for (let i = 0; i < N; i++) tokens.push((await kw.tokens.create({ owner: `acct_${i % 1000}`, kind: "secret" })).token);
  for (const token of tokens) await kw.check({ token });
  const floorMap = new Map(tokens.map((t) => [hash("sha256", t, "hex"), { id: "tok_x" }]));
  let i = 0;
  let j = 0;
  let sink = 0;
  await runGroup(
    `Round-robin over ${N.toLocaleString("en-US")} cached tokens`,
    [
      {
        name: "floor: crypto.hash sha256 hex + Map.get, same working set",
        fn: () => {
          j = (j + 1) % N;
          if (floorMap.get(hash("sha256", tokens[j], "hex"))) sink++;
        },
      },
      {
        name: "kw.check({ token }), warm cache",
        fn: () => {
          i = (i + 1) % N;
          return kw.check({ token: tokens[i] });
        },
      },
    ],
    { ms },
  );
  if (sink === -1) console.log(sink);

  // The worst single check: a miss right after every entry of a full cache was hit.
  // First the same on a small cache, so that compiling the eviction path (a
  // one-time cost of a few ms, whatever the size) is not counted as the first
  // large cache's maintenance. The misses are tokens no cache has seen.
  const spare = [];
  for (let k = 0; k < 205; k++) spare.push((await kw.tokens.create({ owner: "acct_spare", kind: "secret" })).token);
  const small = new Keyward({ store, prefix: "acme", cache: { maxEntries: 64 } });
  for (let round = 0; round < 3; round++) for (let k = 0; k < 200; k++) await small.check({ token: tokens[k % N] });
  const worst = [];
  for (const size of [Math.min(10_000, N / 2), N]) {
    const full = new Keyward({ store, prefix: "acme", cache: { maxEntries: size } });
    for (let k = 0; k < size; k++) await full.check({ token: tokens[k] });
    for (let k = 0; k < size; k++) await full.check({ token: tokens[k] }); // every second-chance bit set
    const timed = async (token) => {
      const t0 = process.hrtime.bigint();
      await full.check({ token });
      return Number(process.hrtime.bigint() - t0) / 1000;
    };
    globalThis.gc?.(); // so that a collection due anyway does not land in the samples
    const samples = [];
    for (let k = 0; k < 5; k++) samples.push(await timed(spare[k]));
    const ordinary = [];
    for (let k = 5; k < spare.length; k++) ordinary.push(await timed(spare[k]));
    worst.push(`| ${size.toLocaleString("en-US")} | ${Math.max(...samples).toFixed(1)} | ${median(ordinary).toFixed(1)} |`);
  }
  console.log(
    [
      "### Worst single check after a full, fully hit cache",
      "",
      "| cache entries | worst of the first 5 misses, µs | median of the next 200 misses, µs |",
      "| ---: | ---: | ---: |",
      ...worst,
      "",
    ].join("\n"),
  );
  console.log(await churn(Keyward, store, tokens));

  // Bytes per cached token (the verifier's caches) and per stored token (MemoryStore).
  const M = 10_000;
  const heap = () => {
    globalThis.gc?.();
    globalThis.gc?.();
    return process.memoryUsage().heapUsed;
  };
  const memStore = new MemoryStore();
  const filler = new Keyward({ store: memStore, prefix: "acme" });
  let before = heap();
  const fresh = [];
  for (let k = 0; k < M; k++) fresh.push((await filler.tokens.create({ owner: `acct_${k % 1000}`, kind: "secret" })).token);
  const perStored = (heap() - before) / M - fresh[0].length * 2; // minus the token strings this script keeps
  // Usage recording off here: with it on, the heap also grows by the store's
  // usage state of each token (hour bucket, analytics row, last use), which
  // is the store's memory, not the caches'.
  const caching = new Keyward({ store: memStore, prefix: "acme", cache: { maxEntries: M }, usage: { enabled: false } });
  before = heap();
  for (const token of fresh) await caching.check({ token });
  const perCached = (heap() - before) / M;

  // Bytes allocated per cold check: heap growth over a window with no GC in it.
  const coldKw = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 } });
  for (let k = 0; k < 1000; k++) await coldKw.check({ token: tokens[0] }); // warm
  const perCold = await allocatedPerCall(() => coldKw.check({ token: tokens[0] }), 200);
  console.log(
    [
      "### Memory",
      "",
      "| what | bytes |",
      "| --- | ---: |",
      `| per cached token (verifier caches, after one check each) | ${Math.round(perCached)} |`,
      `| per stored token (MemoryStore) | ${Math.round(perStored)} |`,
      `| allocated per cold check (cache off) | ${perCold === null ? "n/a" : Math.round(perCold)} |`,
      "",
    ].join("\n"),
  );
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * Heap bytes allocated per call: heap growth over `n` calls, from a window in
 * which the heap never shrank (so no GC ran), minus the cost of reading the
 * heap size itself; null if no window was clean.
 */
async function allocatedPerCall(fn, n) {
  const grow = async (f) => {
    globalThis.gc?.();
    let last = process.memoryUsage().heapUsed;
    const first = last;
    for (let k = 0; k < n; k++) {
      await f();
      const used = process.memoryUsage().heapUsed;
      if (used < last) return null; // a GC ran: this window says nothing
      last = used;
    }
    return (last - first) / n;
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    const overhead = await grow(() => undefined);
    const total = await grow(fn);
    if (overhead !== null && total !== null) return total - overhead;
  }
  return null;
}

/**
 * The longest checks while a full cache keeps replacing entries: every
 * token of the working set round robin through a cache half its size, so
 * every check is a miss that evicts. Checks during which the garbage
 * collector ran are counted apart (a pause of the heap, not of the cache).
 * Usage recording is off: MemoryStore writes a batch of usage events in
 * one go, which would land on the check that awaits it. `Keyward` is the
 * class of the build measured (bench/compare-builds.js passes another).
 */
export async function churn(Keyward, store, tokens) {
  const size = Math.floor(tokens.length / 2);
  const kw = new Keyward({ store, prefix: "acme", cache: { maxEntries: size }, usage: { enabled: false } });
  for (let k = 0; k < size; k++) await kw.check({ token: tokens[k] });
  const gcs = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  observer.observe({ entryTypes: ["gc"] });
  const spans = [];
  for (let k = 0; k < tokens.length; k++) {
    const t0 = performance.now();
    await kw.check({ token: tokens[(size + k) % tokens.length] });
    spans.push([t0, performance.now()]);
  }
  await new Promise((resolve) => setTimeout(resolve, 50)); // GC entries arrive asynchronously
  observer.disconnect();
  const clean = [];
  let withGc = 0;
  let g = 0;
  for (const [t0, t1] of spans) {
    while (g < gcs.length && gcs[g][1] < t0) g++;
    if (g < gcs.length && gcs[g][0] <= t1) withGc++;
    else clean.push((t1 - t0) * 1000);
  }
  clean.sort((a, b) => a - b);
  const at = (q) => clean[Math.min(clean.length - 1, Math.floor(q * clean.length))].toFixed(1);
  return [
    `### Checks while a full cache of ${size.toLocaleString("en-US")} keeps evicting (${tokens.length.toLocaleString("en-US")} misses, usage recording off)`,
    "",
    "| checks without a GC inside | p50 µs | p99.9 µs | longest µs | checks with a GC inside |",
    "| ---: | ---: | ---: | ---: | ---: |",
    `| ${clean.length.toLocaleString("en-US")} | ${at(0.5)} | ${at(0.999)} | ${clean.at(-1).toFixed(1)} | ${withGc} |`,
    "",
  ].join("\n");
}
