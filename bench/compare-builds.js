// This build next to another one, in one process: the metered checks of
// bench/accounts.js (meteringShapes) and MemoryStore.meter on 10 000 keys,
// for changes whose effect is smaller than the drift between two runs; then
// the checks while a full cache keeps evicting (bench/verify.js `churn`),
// each build on a working set of its own, one after the other. With
// COMPARE=signing, the worst verifyRequest cases of bench/signing.js instead.
//
//   git worktree add /tmp/kw-old <rev> && (cd /tmp/kw-old && npm ci && npx tsup)
//   npm run build && KEYWARD_OLD_DIST=/tmp/kw-old/dist BENCH_ROUNDS=5 node --expose-gc bench/compare-builds.js
//
// REVERSED=1 lists this build's rows first (the rounds alternate the order anyway).
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { meteringShapes } from "./accounts.js";
import { churn } from "./verify.js";
import { runGroup } from "./harness.js";
import { worstCases } from "./signing.js";

const oldDist = process.env.KEYWARD_OLD_DIST;
if (!oldDist) throw new Error("set KEYWARD_OLD_DIST to the dist/ folder of the build to compare with");
const entry = process.env.COMPARE === "signing" ? "signing.js" : "index.js";
const builds = [
  ["before: ", await import(pathToFileURL(join(resolve(oldDist), entry)).href)],
  ["after: ", await import(`../dist/${entry}`)],
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
