// Accounts, usage recording and telemetry on the request path (MemoryStore):
// a check charged to the token and its account's pool with usage recording
// on, next to a plain warm check; and a warm check with OpenTelemetry
// metrics and spans (the SDK, no exporter) next to the same check without;
// and metering with more rate-limit windows or a named pool, next to one window.
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { Keyward, MAX_CREDIT_BALANCE, MemoryStore } from "../dist/index.js";
import { runGroup } from "./harness.js";

export async function benchAccounts({ ms }) {
  const store = new MemoryStore();
  const plain = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
  const { token } = await plain.tokens.create({ owner: "acct_plain", kind: "secret", scopes: ["core:read"] });

  const metered = new Keyward({ store, prefix: "acme" });
  await metered.accounts.set("acct_1", { credits: { limit: 1e15 - 1 }, rateLimit: { limit: 1e12, windowMs: 1000 } });
  const { token: charged } = await metered.tokens.create({
    owner: "acct_1",
    kind: "secret",
    scopes: ["core:read"],
    credits: { limit: MAX_CREDIT_BALANCE },
  });

  const rows = await runGroup(
    "Accounts: a check charged to the token and its account, with usage recording (MemoryStore)",
    [
      { name: "kw.check({ token, scope }), warm, plain (no limits, usage off)", fn: () => plain.check({ token, scope: "core:read" }) },
      {
        name: "kw.check charged to token credits + account pool and rate limit, usage recorded",
        fn: () => metered.check({ token: charged, scope: "core:read", cost: 1 }),
      },
    ],
    { ms },
  );
  for (const [kw, t] of [
    [plain, token],
    [metered, charged],
  ]) {
    const d = await kw.check({ token: t, scope: "core:read" });
    if (!d.ok) throw new Error(`benchmark token was denied: ${d.code}`);
  }
  await metered.close();
  rows.push(...(await benchMeteringShapes({ ms })));

  const meter = new MeterProvider().getMeter("keyward");
  const tracer = new BasicTracerProvider().getTracer("keyward");
  const bare = new Keyward({ store, prefix: "acme" });
  const measured = new Keyward({ store, prefix: "acme", telemetry: { meter } });
  const observed = new Keyward({ store, prefix: "acme", telemetry: { meter, tracer } });
  rows.push(
    ...(await runGroup(
      "Telemetry overhead: a warm check with OpenTelemetry metrics and spans (SDK, no exporter)",
      [
        { name: "kw.check({ token, scope }), warm, no telemetry", fn: () => bare.check({ token, scope: "core:read" }) },
        { name: "kw.check({ token, scope }), warm, metrics", fn: () => measured.check({ token, scope: "core:read" }) },
        { name: "kw.check({ token, scope }), warm, metrics + spans", fn: () => observed.check({ token, scope: "core:read" }) },
      ],
      { ms },
    )),
  );
  await bare.close();
  await measured.close();
  await observed.close();
  return rows;
}

/**
 * The metered checks of benchMeteringShapes, on a Keyward of the given build
 * (`lib`: the module of its dist/index.js; bench/compare-builds.js passes two).
 * Returns the cases, each checked once (allowed), and the instance.
 */
export async function meteringShapes(lib, tag = "") {
  const kw = new lib.Keyward({ store: new lib.MemoryStore(), prefix: "acme" });
  const big = { rateLimit: { limit: 1e12, windowMs: 1000 }, credits: { limit: MAX_CREDIT_BALANCE } };
  const create = async (extra) => (await kw.tokens.create({ owner: "acct_1", kind: "secret", ...big, ...extra })).token;
  const one = await create({});
  const windows = await create({ rateLimits: [{ limit: 1e12, windowMs: 60_000 }, { limit: 1e12, windowMs: 3_600_000 }] });
  const pooled = await create({ pools: { premium: { limit: MAX_CREDIT_BALANCE } } });
  const cases = [
    { name: `${tag}kw.check, rate limit + credits (one window, default pool)`, fn: () => kw.check({ token: one }) },
    { name: `${tag}the same with two more windows (rateLimits)`, fn: () => kw.check({ token: windows }) },
    { name: `${tag}the same drawing from a named pool`, fn: () => kw.check({ token: pooled, pool: "premium" }) },
  ];
  for (const c of cases) {
    const d = await c.fn();
    if (!d.ok) throw new Error(`benchmark token was denied: ${d.code}`);
  }
  return { kw, cases };
}

/** A metered check with one rate-limit window, next to three windows (`rateLimits`) and to a named pool. */
async function benchMeteringShapes({ ms }) {
  const { kw, cases } = await meteringShapes({ Keyward, MemoryStore });
  const rows = await runGroup("Metering: more rate-limit windows and named pools (MemoryStore, usage recording on)", cases, { ms });
  await kw.close();
  return rows;
}
