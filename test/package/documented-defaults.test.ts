// "Every limit has a documented default": this file holds the docs to the code.
//
// A documented default is a doc comment on a property of an exported
// interface that states one: "(default 10 000)", "(default 1 MiB; …)",
// "Default false.", "(default `\"live\"`)", "`ttlMs` (default 30 000)" (the
// default of the field `ttlMs` inside the option). documentedDefaults() reads
// them with the TypeScript compiler API from every source file; each must be
// compared with the value the code applies (APPLIED: the resolved
// configuration, the constant the code applies, or what the code does) or
// listed, with the reason, as one this test cannot check (NOT_CHECKED). A new
// option whose comment states a default therefore fails here until it is in
// one of them.
//
// Then the same values are held against the guides: their tables of options
// (`| option | default |`), their prose ("`maxLabels` (8)"), and the CLI's
// help texts.
import { readdirSync, readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it, vi } from "vitest";
import { createAdminHandler } from "../../src/admin/handler.js";
import { parseAdminOptions } from "../../src/admin/options.js";
import { parseDuration } from "../../src/cli/command.js";
import { createSigner } from "../../src/client/create-signer.js";
import { signerFromEnv } from "../../src/client/env.js";
import { DEFAULT_MAX_BODY_BYTES as SIGNED_FETCH_MAX_BODY_BYTES, type SignedFetchOptions, signedFetch } from "../../src/client/signed-fetch.js";
import { type ResolvedConfig, resolveConfig } from "../../src/config.js";
import { createEdge } from "../../src/http/core.js";
import { DEFAULT_PROBLEM_TYPE_BASE } from "../../src/http/problem.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { DEFAULT_TOKEN_TYPE, LEAK_RECEIVER_DEFAULTS } from "../../src/leaks/github.js";
import { toBase64Url } from "../../src/lib/bytes.js";
import { secureRandom } from "../../src/lib/crypto.js";
import { DEFAULT_BILLING_SETTLE_MS, DEFAULT_BILLING_STALE_MS } from "../../src/manager/billing.js";
import { DEFAULT_LEAK_ACTION } from "../../src/manager/leaks.js";
import { USAGE_DEFAULTS } from "../../src/manager/usage.js";
import { DEFAULT_POOL } from "../../src/model/pools.js";
import { DEFAULT_ACTOR } from "../../src/model/schemas.js";
import { ANOMALY_DEFAULTS, DEFAULT_BURST_CODES } from "../../src/monitor/anomalies.js";
import { DEFAULT_LATENCY_SAMPLE_EVERY } from "../../src/monitor/telemetry.js";
import { createClientIpResolver } from "../../src/policy/client-ip.js";
import { DEFAULT_REALM } from "../../src/policy/decision.js";
import { POSTGRES_DEFAULTS, pgTablePrefix } from "../../src/postgres/store.js";
import { type SignRequestOptions, signRequest } from "../../src/signing/sign.js";
import { DEFAULT_REQUIRED, VERIFY_REQUEST_DEFAULTS, type VerifyRequestOptions, verifyRequest } from "../../src/signing/verify.js";
import { sqliteStore } from "../../src/sqlite/index.js";
import { DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_REQUEST_BUSY_TIMEOUT_MS, DEFAULT_WAL_CHECKPOINT_BYTES } from "../../src/sqlite/store.js";
import { DEFAULT_PAGE_LIMIT } from "../../src/store/kit/page.js";
import { checkTablePrefix, tableNames } from "../../src/store/sql/schema.js";
import { SUITE_DEFAULTS } from "../../src/testing/describe-token-store.js";
import { type DocumentedDefault, documentedDefaults, parseDefault, proseDefaults, UNPARSED } from "../support/documented-defaults.js";

/** Every source file: an option interface added anywhere is read. */
const FILES = readdirSync(new URL("../../src", import.meta.url), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".ts"))
  .sort()
  .map((f) => `src/${f}`);

/** "none": the option is absent, null, or an empty list. */
const none = (v: unknown) => (v === undefined || v === null || (Array.isArray(v) && v.length === 0) ? null : v);
/** A function default is written as its name (`Date.now`). */
const named = (f: unknown, name: string, fn: unknown) => (f === fn ? name : f);

// The configuration `new Keyward` runs on when given only what it requires.
const config: ResolvedConfig = resolveConfig({ store: new MemoryStore(), prefix: "acme" });
const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
const admin = parseAdminOptions({ keyward: kw, authorize: () => ({ owner: "acct_1" }) });
const edge = createEdge(kw);

/** A new SQLite database as `sqliteStore` leaves it when given no options. */
function sqliteDefaults() {
  const db = new DatabaseSync(":memory:");
  sqliteStore(db as never);
  const synchronous = (db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous;
  const migrated = db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?").get(tableNames(checkTablePrefix()).migrations) !== undefined;
  db.close();
  return { synchronous: ["OFF", "NORMAL", "FULL", "EXTRA"][synchronous], migrate: migrated };
}

/** What a signature made with `options` shows of them: label, components, parameters, Content-Digest algorithms. */
async function signatureOf(sign: (request: Request) => Promise<Request>) {
  const before = Math.floor(Date.now() / 1000);
  const signed = await sign(new Request("https://api.example.com/v1/prices", { method: "POST", body: "{}" }));
  const [, label, components, params] = /^([\w-]+)=\(([^)]*)\)(.*)$/.exec(signed.headers.get("signature-input")!)!;
  const param = (name: string) => new RegExp(`;${name}=([^;]+)`).exec(params!)?.[1];
  const created = Number(param("created"));
  return {
    label,
    components: [...components!.matchAll(/"([^"]+)"/g)].map((m) => m[1]),
    nonce: param("nonce") !== undefined,
    lifetimeSec: param("expires") === undefined ? undefined : Number(param("expires")) - created,
    // The clock it read: the signature's `created` is this second.
    clock: created >= before && created <= Math.floor(Date.now() / 1000) ? "Date.now" : created,
    digestAlgorithms: [...signed.headers.get("content-digest")!.matchAll(/(?:^|,\s*)([\w-]+)=:/g)].map((m) => m[1]),
  };
}

const KEY_ID = "tok_4qTz8Rk2mXbN7wLcP1dYeF";
const SEED = new Uint8Array(32).fill(7);
const signed = await signatureOf((r) => signRequest(r, { keyId: KEY_ID, key: { alg: "ed25519", privateKey: SEED } }));
const signer = await signatureOf((r) => createSigner({ keyId: KEY_ID, alg: "ed25519", privateKey: SEED }).sign(r));
// What signedFetch does when the API redirects to another origin: "error" rejects, "unsigned" follows.
async function crossOriginRedirect(options?: SignedFetchOptions): Promise<string> {
  const api = (request: Request) =>
    Promise.resolve(request.url.startsWith("https://api.example.com/") ? new Response(null, { status: 302, headers: { location: "https://files.example.net/x" } }) : new Response("followed"));
  const fetchSigned = signedFetch(createSigner({ keyId: KEY_ID, alg: "ed25519", privateKey: SEED }), api, options);
  return fetchSigned("https://api.example.com/v1/export").then(
    () => "unsigned",
    (error) => (error instanceof TypeError ? "error" : String(error)),
  );
}
const crossOriginRedirectDefault = await crossOriginRedirect();
const fromEnv = signerFromEnv({ env: { KEYWARD_KEY_ID: KEY_ID, KEYWARD_PRIVATE_KEY: toBase64Url(SEED) } });

// What verifyRequest given only `resolveKey` (and `required`) accepts: a switch that is off refuses.
const HMAC = { alg: "hmac-sha256", secret: new Uint8Array(32).fill(9) } as const;
async function accepts(sign: Partial<SignRequestOptions>, body?: string, verify: Partial<VerifyRequestOptions> = {}): Promise<boolean> {
  const request = new Request("https://api.example.com/v1/prices", body === undefined ? {} : { method: "POST", body });
  const signedRequest = await signRequest(request, { keyId: KEY_ID, key: HMAC, ...sign });
  return (await verifyRequest(signedRequest, { resolveKey: () => HMAC, ...verify })).ok;
}
const verifier = {
  requireNonce: !(await accepts({})), // signRequest adds no nonce unless asked
  unsafeAllowNoFreshness: await accepts({ params: ["keyid", "alg"] }, undefined, { required: ["@method", "@target-uri"] }),
  unsafeAllowUncoveredBody: await accepts({ components: ["@method", "@target-uri"] }, "{}"),
};

// Where a very wide trusted proxy block is reported, and whether a catch-all one is refused.
const WIDE = ["0.0.0.0/1"];
function warnsOnConsole(make: () => unknown): boolean {
  const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
  try {
    make();
    return warn.mock.calls.some(([message]) => String(message).startsWith("keyward: "));
  } finally {
    warn.mockRestore();
  }
}
// Where the admin handler reports a 500 without onError (and without a telemetry.logger).
async function adminReportsOnConsole(): Promise<boolean> {
  const error = vi.spyOn(console, "error").mockImplementation(() => {});
  try {
    const failing = createAdminHandler({
      keyward: kw,
      authorize: () => {
        throw new Error("bug");
      },
    });
    expect((await failing(new Request("http://127.0.0.1/tokens"))).status).toBe(500);
    return error.mock.calls.some(([message]) => String(message).startsWith("keyward admin: "));
  } finally {
    error.mockRestore();
  }
}
const adminOnError = (await adminReportsOnConsole()) ? "console.error" : "not console.error";
const refusesCatchAll = (() => {
  try {
    createClientIpResolver({ trustedProxies: ["0.0.0.0/0"] });
    return false;
  } catch {
    return true;
  }
})();

// A token regenerated, and an account given credits, without the options in question.
const managed = new Keyward({ store: new MemoryStore(), prefix: "acme" });
const issued = await managed.tokens.create({ owner: "acct_1", kind: "secret" });
const rotated = await managed.tokens.regenerate(issued.record.id);
const oldSecretWorks = (await managed.check({ token: issued.token })).ok;
const account = await managed.accounts.set("acct_1", { credits: { limit: 10, reset: "month" } });

/** Each documented default, with the value the code applies when the option is not given. */
const APPLIED: Record<string, () => unknown> = {
  "KeywardOptions.env": () => config.env,
  "KeywardOptions.revocationBoundMs": () => config.revocationBoundMs,
  "KeywardOptions.propagationDelayMs": () => config.propagationDelayMs,
  "KeywardOptions.defaultScopes": () => config.defaultScopes,
  "KeywardOptions.allowPublishableWrites": () => config.allowPublishableWrites,
  "KeywardOptions.now": () => named(config.now, "Date.now", Date.now),
  "KeywardOptions.random": () => named(config.random, "crypto.getRandomValues", secureRandom), // its wrapper, in chunks
  "KeywardOptions.cache.maxEntries": () => config.cache.maxEntries,
  "KeywardOptions.cache.negativeTtlMs": () => config.cache.negativeTtlMs,
  "KeywardOptions.trustedProxies": () => none(config.trustedProxies),
  "KeywardOptions.forwardedHeader": () => config.forwardedHeader,
  "KeywardOptions.allowCatchAllRanges": () => config.allowCatchAllRanges,
  "KeywardOptions.queryParam": () => config.queryParam,
  "KeywardOptions.allowSecretInBrowser": () => config.allowSecretInBrowser,
  "KeywardOptions.onWarning": () => (warnsOnConsole(() => new Keyward({ store: new MemoryStore(), prefix: "acme", trustedProxies: WIDE })) ? "console.warn" : "not console.warn"),
  "ClientIpOptions.allowCatchAllRanges": () => !refusesCatchAll,
  "ClientIpOptions.onWarning": () => (warnsOnConsole(() => createClientIpResolver({ trustedProxies: WIDE })) ? "console.warn" : "not console.warn"),
  "KeywardOptions.requireHttps": () => config.requireHttps, // with the default env, "live"
  "KeywardOptions.lookupTimeoutMs": () => config.lookupTimeoutMs,
  "KeywardOptions.acceptPrefixes": () => none(config.prefixes.slice(1)),
  "KeywardOptions.acceptForeignTokens": () => config.acceptForeignTokens,
  "KeywardOptions.signatures.maxAgeSec": () => config.signatures.maxAgeSec,
  "KeywardOptions.signatures.clockSkewSec": () => config.signatures.clockSkewSec,
  "KeywardOptions.signatures.requireNonce": () => config.signatures.requireNonce,
  "KeywardOptions.signatures.required": () => config.signatures.required ?? DEFAULT_REQUIRED,
  "KeywardOptions.signatures.unsafeAllowNoFreshness": () => config.signatures.unsafeAllowNoFreshness,
  "KeywardOptions.signatures.unsafeAllowUncoveredBody": () => config.signatures.unsafeAllowUncoveredBody,
  "KeywardOptions.signatures.maxBodyBytes": () => config.signatures.maxBodyBytes,
  "KeywardOptions.signatures.bodyTimeoutMs": () => config.signatures.bodyTimeoutMs,
  "KeywardOptions.anomalies": () => none(config.anomalies),
  "KeywardOptions.telemetry": () => none(config.telemetry),
  "KeywardOptions.usage.enabled": () => config.usage.enabled,
  "KeywardOptions.usage.batchSize": () => config.usage.batchSize,
  "KeywardOptions.usage.flushIntervalMs": () => config.usage.flushIntervalMs,
  "KeywardOptions.usage.maxQueue": () => config.usage.maxQueue,
  "KeywardOptions.usage.maxScopesPerMinute": () => config.usage.maxScopesPerMinute,
  "KeywardOptions.usage.writeTimeoutMs": () => config.usage.writeTimeoutMs,
  "TokenLifetimeOptions.defaultLifetimeMs": () => config.tokens.defaultLifetimeMs,
  "TokenLifetimeOptions.maxLifetimeMs": () => config.tokens.maxLifetimeMs,
  "TokenLifetimeOptions.rotationPeriodMs": () => config.tokens.rotationPeriodMs,
  "TokenLifetimeOptions.expiringSoonMs": () => config.tokens.expiringSoonMs,
  "TokenLifetimeOptions.unusedAfterMs": () => config.tokens.unusedAfterMs,
  "TokenLifetimeOptions.idempotencyKeyRetentionMs": () => config.tokens.idempotencyKeyRetentionMs,

  "CheckOptions.pool": () => DEFAULT_POOL,
  "RouteOptions.pool": () => DEFAULT_POOL,
  "EdgeOptions.cors": () => edge.cors,
  "AnswerOptions.realm": () => DEFAULT_REALM,
  "AnswerOptions.problemTypeBase": () => DEFAULT_PROBLEM_TYPE_BASE,

  "MemoryStoreOptions.changeFeed": () => new MemoryStore().capabilities.changeFeed,
  "SqliteStoreOptions.tablePrefix": () => checkTablePrefix(undefined),
  "SqliteStoreOptions.synchronous": () => sqliteDefaults().synchronous,
  "SqliteStoreOptions.migrate": () => sqliteDefaults().migrate,
  "SqliteStoreOptions.busyTimeoutMs": () => DEFAULT_BUSY_TIMEOUT_MS,
  "SqliteStoreOptions.requestBusyTimeoutMs": () => DEFAULT_REQUEST_BUSY_TIMEOUT_MS,
  "SqliteStoreOptions.walCheckpointBytes": () => DEFAULT_WAL_CHECKPOINT_BYTES,

  "PostgresStoreOptions.tablePrefix": () => pgTablePrefix(undefined),
  "PostgresStoreOptions.migrate": () => POSTGRES_DEFAULTS.migrate,
  "PostgresStoreOptions.changeFeed": () => POSTGRES_DEFAULTS.changeFeed,
  "PostgresStoreOptions.reconnectMinMs": () => POSTGRES_DEFAULTS.reconnectMinMs,
  "PostgresStoreOptions.reconnectMaxMs": () => POSTGRES_DEFAULTS.reconnectMaxMs,
  "PostgresStoreOptions.heartbeatMs": () => POSTGRES_DEFAULTS.heartbeatMs,
  "PostgresStoreOptions.creditLeases": () => POSTGRES_DEFAULTS.creditLeases,
  "PostgresStoreOptions.creditLeases.ttlMs": () => POSTGRES_DEFAULTS.leases.ttlMs,
  "PostgresStoreOptions.creditLeases.maxBlock": () => POSTGRES_DEFAULTS.leases.maxBlock,
  "PostgresStoreOptions.requestLockTimeoutMs": () => POSTGRES_DEFAULTS.requestLockTimeoutMs,

  "AdminHandlerOptions.basePath": () => admin.basePath,
  "AdminHandlerOptions.datasets": () => none(admin.datasets),
  "AdminHandlerOptions.maxBodyBytes": () => admin.maxBodyBytes,
  "AdminHandlerOptions.bodyTimeoutMs": () => admin.bodyTimeoutMs,
  "AdminHandlerOptions.storeTimeoutMs": () => admin.storeTimeoutMs,
  "AdminHandlerOptions.onError": () => adminOnError,
  "AdminHandlerOptions.allowedOrigins": () => none([...admin.allowedOrigins]),
  "AdminHandlerOptions.problemTypeBase": () => admin.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE,
  "AdminHandlerOptions.console": () => admin.console,
  "AdminHandlerOptions.title": () => admin.title,

  "VerifyRequestOptions.required": () => DEFAULT_REQUIRED,
  "VerifyRequestOptions.requireNonce": () => verifier.requireNonce,
  "VerifyRequestOptions.unsafeAllowNoFreshness": () => verifier.unsafeAllowNoFreshness,
  "VerifyRequestOptions.unsafeAllowUncoveredBody": () => verifier.unsafeAllowUncoveredBody,
  "VerifyRequestOptions.maxAgeSec": () => VERIFY_REQUEST_DEFAULTS.maxAgeSec,
  "VerifyRequestOptions.clockSkewSec": () => VERIFY_REQUEST_DEFAULTS.clockSkewSec,
  "VerifyRequestOptions.maxNonceLength": () => VERIFY_REQUEST_DEFAULTS.maxNonceLength,
  "VerifyRequestOptions.verifyDigest": () => VERIFY_REQUEST_DEFAULTS.verifyDigest,
  "VerifyRequestOptions.maxBodyBytes": () => VERIFY_REQUEST_DEFAULTS.maxBodyBytes,
  "VerifyRequestOptions.bodyTimeoutMs": () => VERIFY_REQUEST_DEFAULTS.bodyTimeoutMs,
  "VerifyRequestOptions.maxHeaderBytes": () => VERIFY_REQUEST_DEFAULTS.maxHeaderBytes,
  "VerifyRequestOptions.maxLabels": () => VERIFY_REQUEST_DEFAULTS.maxLabels,
  "VerifyRequestOptions.maxComponents": () => VERIFY_REQUEST_DEFAULTS.maxComponents,
  "VerifyRequestOptions.maxParameters": () => VERIFY_REQUEST_DEFAULTS.maxParameters,
  "VerifyRequestOptions.maxUrlBytes": () => VERIFY_REQUEST_DEFAULTS.maxUrlBytes,
  "VerifyRequestOptions.maxStructuredFieldBytes": () => VERIFY_REQUEST_DEFAULTS.maxStructuredFieldBytes,
  "VerifyRequestOptions.maxCoveredFieldBytes": () => VERIFY_REQUEST_DEFAULTS.maxCoveredFieldBytes,

  "SignOptions.label": () => signed.label,
  // A request with a body: content-digest is added to the components.
  "SignOptions.components": () => signed.components.filter((c) => c !== "content-digest"),
  "SignOptions.now": () => signed.clock,
  "SignOptions.digestAlgorithms": () => signed.digestAlgorithms,
  // A request with a body: createSigner adds content-digest to its components.
  "SignerSettings.components": () => signer.components.filter((c) => c !== "content-digest"),
  "SignerSettings.nonce": () => signer.nonce,
  "SignerSettings.expiresInSec": () => signer.lifetimeSec,
  "SignerSettings.digestAlgorithms": () => signer.digestAlgorithms,
  "SignerSettings.label": () => signer.label,
  "SignerSettings.now": () => signer.clock,
  "SignedFetchOptions.maxBodyBytes": () => SIGNED_FETCH_MAX_BODY_BYTES,
  "SignedFetchOptions.crossOriginRedirects": () => crossOriginRedirectDefault,
  // It read the KEYWARD_ variables.
  "SignerFromEnvOptions.prefix": () => (fromEnv.keyId === KEY_ID ? "KEYWARD" : undefined),

  "AnomalyOptions.newIp": () => ANOMALY_DEFAULTS.newIp,
  "AnomalyOptions.newOrigin": () => ANOMALY_DEFAULTS.newOrigin,
  "AnomalyOptions.secretFromBrowser": () => ANOMALY_DEFAULTS.secretFromBrowser,
  "AnomalyOptions.spike.intervalMs": () => ANOMALY_DEFAULTS.spike.intervalMs,
  "AnomalyOptions.spike.alpha": () => ANOMALY_DEFAULTS.spike.alpha,
  "AnomalyOptions.spike.factor": () => ANOMALY_DEFAULTS.spike.factor,
  "AnomalyOptions.spike.minCount": () => ANOMALY_DEFAULTS.spike.minCount,
  "AnomalyOptions.spike.warmupIntervals": () => ANOMALY_DEFAULTS.spike.warmupIntervals,
  "AnomalyOptions.denialBurst.count": () => ANOMALY_DEFAULTS.denialBurst.count,
  "AnomalyOptions.denialBurst.windowMs": () => ANOMALY_DEFAULTS.denialBurst.windowMs,
  "AnomalyOptions.denialBurst.codes": () => DEFAULT_BURST_CODES,
  "AnomalyOptions.idle.afterMs": () => ANOMALY_DEFAULTS.idle.afterMs,
  "AnomalyOptions.maxTokens": () => ANOMALY_DEFAULTS.maxTokens,
  "AnomalyOptions.maxSeenPerToken": () => ANOMALY_DEFAULTS.maxSeenPerToken,
  "AnomalyOptions.alertLimit.count": () => ANOMALY_DEFAULTS.alertLimit.count,
  "AnomalyOptions.alertLimit.windowMs": () => ANOMALY_DEFAULTS.alertLimit.windowMs,
  "AnomalyOptions.maxAlerts": () => ANOMALY_DEFAULTS.maxAlerts,
  "AnomalyOptions.shared.flushIntervalMs": () => ANOMALY_DEFAULTS.shared.flushIntervalMs,
  "AnomalyOptions.shared.maxPending": () => ANOMALY_DEFAULTS.shared.maxPending,

  "TelemetryOptions.latencySampleEvery": () => DEFAULT_LATENCY_SAMPLE_EVERY,

  "LeakReceiverOptions.action": () => DEFAULT_LEAK_ACTION,
  "LeakReceiverOptions.tokenType": () => DEFAULT_TOKEN_TYPE,
  "LeakReceiverOptions.refreshIntervalMs": () => LEAK_RECEIVER_DEFAULTS.refreshIntervalMs,
  "LeakReceiverOptions.keyMaxAgeMs": () => LEAK_RECEIVER_DEFAULTS.keyMaxAgeMs,
  "LeakReceiverOptions.keyLoadTimeoutMs": () => LEAK_RECEIVER_DEFAULTS.keyLoadTimeoutMs,
  "LeakReceiverOptions.maxBodyBytes": () => LEAK_RECEIVER_DEFAULTS.maxBodyBytes,
  "LeakReceiverOptions.bodyTimeoutMs": () => LEAK_RECEIVER_DEFAULTS.bodyTimeoutMs,
  "LeakReceiverOptions.maxMatches": () => LEAK_RECEIVER_DEFAULTS.maxMatches,
  "LeakReceiverOptions.maxRemembered": () => LEAK_RECEIVER_DEFAULTS.maxRemembered,

  "ActorOptions.actor": () => DEFAULT_ACTOR,
  "SetAccountOptions.actor": () => DEFAULT_ACTOR,
  "MemberChangeOptions.actor": () => DEFAULT_ACTOR,
  "CreditOptions.actor": () => DEFAULT_ACTOR,
  "BillingRunOptions.actor": () => DEFAULT_ACTOR,
  "BillingRunOptions.settleMs": () => DEFAULT_BILLING_SETTLE_MS,
  "BillingRunOptions.staleAfterMs": () => DEFAULT_BILLING_STALE_MS,
  "PageOptions.limit": () => DEFAULT_PAGE_LIMIT,
  "TopConsumersOptions.limit": () => USAGE_DEFAULTS.topLimit,
  "TopConsumersOptions.by": () => USAGE_DEFAULTS.topBy,
  "ReportLeakOptions.action": () => DEFAULT_LEAK_ACTION,
  "GetUsageOptions.granularity": () => USAGE_DEFAULTS.granularity,
  "RegenerateTokenOptions.graceMs": () => (oldSecretWorks ? "a grace period" : 0),
  "AccountCreditsPolicy.overage": () => account.policy.credits?.overage,

  "DescribeTokenStoreOptions.concurrency": () => SUITE_DEFAULTS.concurrency,
  "DescribeTokenStoreOptions.timeoutMs": () => SUITE_DEFAULTS.timeoutMs,
};

/** Documented defaults this test does not compare with the code, each with the reason. */
const NOT_CHECKED: Record<string, string> = {
  "CheckOptions.cost": "a default under a condition (a token with a credit limit), not one value",
  "RouteOptions.cost": "a default under a condition (a token with a credit limit), not one value",
  "EdgeOptions.publicOrigin": "prose: the URL the server received",
  "KeywardHonoOptions.getIp": "prose: what each runtime's adapter tells",
  "KeywardFetchOptions.getIp": "a hook of the application: without one, no socket address",
  "ProblemResponseOptions.method": "prose: the method of the request `kw.verify` decided on (test/http/core.test.ts answers a HEAD's decision)",
  "PostgresStoreOptions.onChangeFeedError": "prose: errors are ignored",
  "AdminHandlerOptions.grantableScopes": "prose: core:read, premium:read and the scopes of `datasets`",
  "NodeHandlerOptions.publicOrigin": "prose: http:// and the Host header",
  "VerifyRequestOptions.label": "prose: the only signature, or the first that satisfies `required`",
  "VerifyRequestOptions.now": "a clock, `options.now ?? Date.now` inline",
  "SignOptions.created": "prose: the clock's second",
  "SignOptions.params": "prose: depends on the parameters given",
  "SignOptions.random": "a random source, applied inline",
  "SignerFromEnvOptions.env": "prose: the process's environment",
  "SetAccountOptions.effectiveAt": "prose: now + propagationDelayMs",
  "UpdateTokenOptions.effectiveAt": "prose: now + propagationDelayMs",
  "SetAccountOptions.checkTokens": "applied inline (`options.checkTokens ?? true`, src/manager/accounts.ts)",
  "BillingQueryOptions.owner": "prose: every owner with usage in the period",
  "BillingRunOptions.owner": "prose: every owner with usage in the period",
  "ReportLeakOptions.publishable": "names another option: the value of `action`",
  "ReportLeakOptions.actor": "prose: leak:<source>",
  "GetUsageOptions.from": "prose: 24 hours before `to`",
  "GetUsageOptions.to": "prose: now",
  "TopConsumersOptions.from": "prose: 24 hours before `to` (UsageReader's one range reader, as GetUsageOptions.from)",
  "TopConsumersOptions.to": "prose: now",
  "TokenSettingsInput.scopes": "prose: the instance's `defaultScopes` (compared as KeywardOptions.defaultScopes)",
  "ImportTokenInput.start": "prose: the first 8 hex characters of the hash",
  "ImportTokenInput.env": "prose: the instance's `env`",
  "EvaluationContext.allowSecretInBrowser": "a switch of the pure evaluator that only `true` turns on; the Keyward option is compared as KeywardOptions.allowSecretInBrowser",
  "EvaluationContext.allowPublishableWrites": "a switch of the pure evaluator that only `true` turns on; the Keyward option is compared as KeywardOptions.allowPublishableWrites",
  "EvaluationContext.requireHttps": "the pure evaluator's; the Keyward option (\"secret\" with env live) is compared as KeywardOptions.requireHttps",
  "SignatureBaseOptions.order": "prose: the present parameters in the order created, expires, nonce, keyid, alg, tag",
  "GenerateTokenOptions.random": "a random source, applied inline",
};

describe("documented defaults", () => {
  const documented = documentedDefaults(FILES);

  it("finds the defaults of the option interfaces (the reader works)", () => {
    expect(documented.length).toBeGreaterThan(100);
    expect(documented.find((d) => d.path === "KeywardOptions.cache.maxEntries")?.value).toBe(10_000);
  });

  it("probes verifyRequest's switches with requests that turn with them", async () => {
    expect(await accepts({}), "an ordinary signature verifies").toBe(true);
    expect(await accepts({}, undefined, { requireNonce: true })).toBe(false);
    expect(await accepts({ params: ["keyid", "alg"] }, undefined, { required: ["@method", "@target-uri"], unsafeAllowNoFreshness: true })).toBe(true);
    expect(await accepts({ components: ["@method", "@target-uri"] }, "{}", { unsafeAllowUncoveredBody: true })).toBe(true);
  });

  it("probes the managers, the IP resolver and signedFetch with calls that turn with the option", async () => {
    expect((await managed.check({ token: rotated.token })).ok, "the new secret works").toBe(true);
    const graced = await managed.tokens.regenerate(issued.record.id, { graceMs: 60_000 });
    expect((await managed.check({ token: rotated.token })).ok, "with graceMs, the old secret works").toBe(true);
    expect((await managed.check({ token: graced.token })).ok).toBe(true);
    expect(createClientIpResolver({ trustedProxies: ["0.0.0.0/0"], allowCatchAllRanges: true })).toBeTypeOf("function");
    expect(await crossOriginRedirect({ crossOriginRedirects: "unsigned" })).toBe("unsigned");
    expect(await crossOriginRedirect({ crossOriginRedirects: "error" })).toBe("error");
    expect(warnsOnConsole(() => createClientIpResolver({ trustedProxies: WIDE, onWarning: () => {} })), "onWarning given").toBe(false);
  });

  it.each(documented.map((d) => [d.path, d] as const))("%s", (path, d: DocumentedDefault) => {
    const applied = APPLIED[path];
    if (applied === undefined) {
      expect(NOT_CHECKED[path], `${d.file}: "${d.statement}" is compared with nothing: add it to APPLIED, or to NOT_CHECKED with the reason`).toBeDefined();
      return;
    }
    expect(d.value, `${d.file}: "${d.statement}" is not in a form parseDefault reads`).not.toBe(UNPARSED);
    expect(applied(), `${d.file}: "${d.statement}"`).toEqual(d.value);
  });

  it("lists no option twice, and none that states no default", () => {
    const paths = new Set(documented.map((d) => d.path));
    expect(paths.size, "two statements of one option: name the field each is the default of (`name` (default …))").toBe(documented.length);
    for (const path of [...Object.keys(APPLIED), ...Object.keys(NOT_CHECKED)]) expect(paths.has(path), path).toBe(true);
    for (const path of Object.keys(NOT_CHECKED)) expect(APPLIED[path], path).toBeUndefined();
  });
});

/** The guides' tables of options (`| option | default | … |`), each with the interface whose options it lists. */
const TABLES = [
  { file: "docs/console.md", heading: "## Options", of: "AdminHandlerOptions" },
  { file: "docs/lifecycle.md", heading: "", of: "TokenLifetimeOptions" },
  { file: "docs/signed-requests.md", heading: "Before anything is parsed", of: "VerifyRequestOptions" },
  { file: "docs/stores.md", heading: "## SQLite (`keyward/sqlite`)", of: "SqliteStoreOptions" },
];

/** The rows of the first options table after `heading` in `file`: option name and the default column's words. */
function tableRows(file: string, heading: string): [string, string][] {
  const text = readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
  const from = text.indexOf(heading);
  expect(from, `${file}: "${heading}"`).toBeGreaterThanOrEqual(0);
  const lines = text.slice(from).split("\n");
  const start = lines.findIndex((l) => /^\| option \| default \|/.test(l));
  expect(start, `${file}: no "| option | default |" table after "${heading}"`).toBeGreaterThanOrEqual(0);
  const rows: [string, string][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const [name, words] = line.split(" | ").map((c) => c.replace(/^\| /, "").trim());
    // `walCheckpointBytes`: "`67108864` (64 MiB)": the value, then a gloss.
    rows.push([/^`(\w+)/.exec(name!)![1]!, words!.replace(/\s*\([^)]*\)$/, "")]);
  }
  return rows;
}

describe("the guides' tables of options state the defaults the code applies", () => {
  const documented = documentedDefaults(FILES);
  it.each(TABLES)("$file: $of", ({ file, heading, of }) => {
    const rows = tableRows(file, heading);
    expect(rows.length).toBeGreaterThan(3);
    for (const [name, words] of rows) {
      const path = `${of}.${name}`;
      const commented = documented.find((d) => d.path === path);
      const value = parseDefault(words);
      if (value === UNPARSED) {
        // Prose ("required", "`core:read`, `premium:read` and the dataset scopes"): the comment says it in prose too, or nothing.
        expect(commented === undefined || commented.value === UNPARSED || NOT_CHECKED[path] !== undefined, `${file}: ${name} "${words}"`).toBe(true);
        continue;
      }
      if (commented !== undefined) expect(none(value), `${file}: ${name} "${words}" against ${commented.file}`).toEqual(none(commented.value));
      const applied = APPLIED[path];
      if (applied !== undefined) expect(none(value), `${file}: ${name} "${words}" against the code`).toEqual(none(applied()));
    }
  });
});

/** The guides: README.md, SECURITY.md and docs/ (benchmarks.md states measurements, not defaults). */
const GUIDES = ["README.md", "SECURITY.md", ...readdirSync(new URL("../../docs", import.meta.url)).filter((f) => f.endsWith(".md") && f !== "benchmarks.md").map((f) => `docs/${f}`)];

describe("the guides' prose states the defaults the options have", () => {
  const documented = documentedDefaults(FILES);
  // An option's name says which interfaces it may be of (`maxBodyBytes` is the admin handler's, the verifier's, …):
  // the value must be the documented default of one of them. Other names (`KEYWARD_DATABASE_TIMEOUT_MS`, Fastify's `bodyLimit`) are not options.
  it.each(GUIDES)("%s", (file) => {
    for (const { name, words, value } of proseDefaults(readFileSync(new URL(`../../${file}`, import.meta.url), "utf8"))) {
      const options = documented.filter((d) => d.path.endsWith(`.${name}`));
      if (options.length === 0 || value === UNPARSED) continue;
      expect(options.map((d) => d.value), `${file}: "${words}"`).toContainEqual(value);
    }
  });

  it("finds the statements (the reader works)", () => {
    const named = new Set(documented.map((d) => d.path.split(".").at(-1)));
    const stated = GUIDES.flatMap((file) => proseDefaults(readFileSync(new URL(`../../${file}`, import.meta.url), "utf8")));
    expect(stated.filter((p) => named.has(p.name.split(".").at(-1)) && p.value !== UNPARSED).length).toBeGreaterThan(40);
  });

  it("reads the prose's forms", () => {
    expect(proseDefaults("`usage.maxQueue` (100 000) events; `signatures.clockSkewSec` (default 30 s) and `title` (default `\"API tokens\"`)")).toEqual([
      { name: "usage.maxQueue", words: "`usage.maxQueue` (100 000)", value: 100_000 },
      { name: "signatures.clockSkewSec", words: "`signatures.clockSkewSec` (default 30 s)", value: 30 },
      { name: "title", words: '`title` (default `"API tokens"`)', value: "API tokens" },
    ]);
  });
});

// The CLI's flags state their defaults in their help text ("page size, 1 to 1000 (default 100)"). A flag
// left out passes nothing, so the library's default applies: the help must state that one.
const FLAG = /(?:"([\w-]+)"|(\w+)): \{\s*type: "(?:string|boolean)"[^}]*?description:\s*"([^"]*)"/g;
const PASSED_THROUGH: Record<string, string> = {
  limit: "PageOptions.limit",
  granularity: "GetUsageOptions.granularity",
  "expiring-within": "TokenLifetimeOptions.expiringSoonMs",
};
/** Flags whose default the CLI itself applies or describes in prose, each with the reason it is not compared. */
const CLI_NOT_CHECKED: Record<string, string> = {
  "effective-at": "prose: now",
  database: "prose: $KEYWARD_DATABASE or ./keyward.db",
  "key-file": "prose: $KEYWARD_SIGNING_KEY, else $KEYWARD_PRIVATE_KEY",
  method: "prose: GET, or POST with --data",
  from: "prose: 24 h before --to",
  to: "prose: now",
  owner: "prose: every account with usage",
  format: "the CLI's own (csv), applied in src/cli/metering.ts",
  "max-bytes": "prose: no limit",
  actor: "the CLI's own (cli), applied by actorOf in src/cli/tokens.ts",
  kind: "the CLI's own (secret), applied in src/cli/tokens.ts",
  grace: "the CLI's own (0), as RegenerateTokenOptions.graceMs",
  "rotation-period": "prose: the account's",
  "max-lifetime": "prose: the account's",
};

describe("the CLI's flags state the defaults that apply", () => {
  const documented = documentedDefaults(FILES);
  const flags = readdirSync(new URL("../../src/cli", import.meta.url))
    .flatMap((f) => [...readFileSync(new URL(`../../src/cli/${f}`, import.meta.url), "utf8").matchAll(FLAG)])
    .map((m) => ({ flag: (m[1] ?? m[2])!, help: m[3]! }))
    .filter((f) => /\(default/.test(f.help));

  it.each(flags.map((f) => [f.flag, f] as const))("--%s", (flag, { help }) => {
    const path = PASSED_THROUGH[flag];
    if (path === undefined) {
      expect(CLI_NOT_CHECKED[flag], `--${flag}: "${help}" is compared with nothing`).toBeDefined();
      return;
    }
    const words = /\(default:? ([^;)]+)/.exec(help)![1]!;
    // The CLI's own forms: a duration (7d) as it parses one, else a word.
    const stated = /^\d+(?:ms|s|m|h|d)?$/.test(words) ? parseDuration(words, flag) : parseDefault(`\`${words}\``);
    expect(documented.find((d) => d.path === path)?.value, `--${flag}: "${help}"`).toEqual(stated);
  });

  it("lists only flags that state a default", () => {
    expect(flags.length).toBeGreaterThan(10);
    for (const flag of [...Object.keys(PASSED_THROUGH), ...Object.keys(CLI_NOT_CHECKED)]) expect(flags.map((f) => f.flag), flag).toContain(flag);
  });
});

describe("parseDefault reads the forms the comments use", () => {
  it.each([
    ["10 000", 10_000],
    ["10\u2009000", 10_000],
    ["131 072", 131_072],
    ["0.3", 0.3],
    ["1 MiB", 1024 ** 2],
    ["64 MiB", 64 * 1024 ** 2],
    ["7 days", 7 * 86_400_000],
    ["10 s", 10_000],
    ["5 minutes", 300_000],
    ["1 hour", 3_600_000],
    ['`"live"`', "live"],
    ['`["core:read"]`', ["core:read"]],
    ["`Date.now`", "Date.now"],
    ["`@method`, `@target-uri`, `created`", ["@method", "@target-uri", "created"]],
    ["true", true],
    ["on", true],
    ["false", false],
    ["none", null],
    ["null", null],
  ])("%s", (words, value) => {
    expect(parseDefault(words)).toEqual(value);
  });

  it("refuses what it cannot read as one value", () => {
    for (const words of ["the URL the server received", "`@method` and more", "10 apples", ""]) expect(parseDefault(words), words).toBe(UNPARSED);
  });
});
