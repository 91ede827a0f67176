// Compiled by public-api.test.ts with exactOptionalPropertyTypes on and off, never run: one call of each
// public entry point as an application writes it, every optional field of its input given a value that may
// be undefined (an environment variable, an optional parameter, a header). keyward treats undefined as absent.
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import {
  type AnalyticsGranularity,
  type AnomalyKind,
  type CreditsInput,
  type DecisionEvent,
  findTokens,
  generateToken,
  InvalidInputError,
  Keyward,
  type LifecycleEvent,
  MemoryStore,
  problemResponse,
  type RandomSource,
  type RateLimitInput,
  type Role,
  type SigningInput,
  StoreUnavailableError,
  type TokenEnv,
  type UsageWriteError,
} from "keyward";
import { createAdminHandler, toNodeHandler } from "keyward/admin";
import { createSigner, type Ed25519Jwk, signedFetch, signerFromEnv } from "keyward/client";
import { keywardExpress } from "keyward/express";
import { keywardFastify } from "keyward/fastify";
import { keywardFetch } from "keyward/fetch";
import { keywardHono } from "keyward/hono";
import { createLeakReceiver } from "keyward/leaks";
import { type ConfigWarning, type ForwardingHeader, type RequiredScopes, createClientIpResolver, createTransportResolver } from "keyward/policy";
import { type PostgresPool, postgresStore } from "keyward/postgres";
import { type DigestAlgorithm, type SignatureParamName, signatureBase, signatureHeaders, signRequest, verifyRequest } from "keyward/signing";
import { sqliteStore } from "keyward/sqlite";
import { describeTokenStore } from "keyward/testing";

declare function maybe<T>(): T | undefined;
const s = process.env.KEYWARD_UNSET;
const n = maybe<number>();
const b = maybe<boolean>();
const list = maybe<string[]>();
const fn = maybe<() => number>();

export async function calls(kw: Keyward, req: IncomingMessage, request: Request, c: Context, pool: PostgresPool, signing: SigningInput) {
  new Keyward({
    store: new MemoryStore({ changeFeed: b, onListenerError: maybe<(error: unknown) => void>() }),
    prefix: "acme",
    env: maybe<TokenEnv>(),
    sealingKey: s,
    revocationBoundMs: n,
    propagationDelayMs: n,
    defaultScopes: list,
    allowPublishableWrites: b,
    now: fn,
    random: maybe<RandomSource>(),
    cache: maybe<{ maxEntries: number }>() ?? { maxEntries: n, negativeTtlMs: n },
    trustedProxies: list,
    forwardedHeader: maybe<ForwardingHeader>(),
    allowCatchAllRanges: b,
    onWarning: maybe<(warning: ConfigWarning) => void>(),
    queryParam: s,
    allowSecretInBrowser: b,
    requireHttps: maybe<"all">(),
    tokens: {
      defaultLifetimeMs: n,
      maxLifetimeMs: n,
      rotationPeriodMs: n,
      expiringSoonMs: n,
      unusedAfterMs: n,
      onLifecycle: maybe<(event: LifecycleEvent) => void>(),
    },
    lookupTimeoutMs: n,
    acceptPrefixes: list,
    acceptForeignTokens: maybe<false>(),
    signatures: {
      maxAgeSec: n,
      clockSkewSec: n,
      requireNonce: b,
      required: list,
      unsafeAllowNoFreshness: b,
      unsafeAllowUncoveredBody: b,
      maxBodyBytes: n,
      bodyTimeoutMs: n,
    },
    anomalies: {
      onAnomaly: maybe<() => void>(),
      newIp: b,
      newOrigin: b,
      spike: { intervalMs: n, alpha: n, factor: n, minCount: n, warmupIntervals: n },
      denialBurst: { count: n, windowMs: n, codes: list },
      idle: { afterMs: n },
      secretFromBrowser: b,
      maxTokens: n,
      maxSeenPerToken: n,
      alertLimit: { count: n, windowMs: n },
      maxAlerts: n,
      shared: { flushIntervalMs: n, maxPending: n },
      onError: maybe<(error: unknown) => void>(),
    },
    telemetry: { meter: undefined, tracer: undefined, logger: undefined, latencySampleEvery: n },
    usage: {
      enabled: b,
      batchSize: n,
      flushIntervalMs: n,
      maxQueue: n,
      maxScopesPerMinute: n,
      writeTimeoutMs: n,
      onDecision: maybe<(event: DecisionEvent) => void>(),
      onError: maybe<(error: UsageWriteError) => void>(),
    },
  });
  const credits: CreditsInput = { limit: 10, refill: maybe<{ amount: number; intervalMs: number }>(), reset: maybe<"day">() };
  const actor = { actor: s, role: maybe<Role>() };
  const { record } = await kw.tokens.create(
    {
      owner: "acct_1",
      kind: "secret",
      name: s,
      scopes: list,
      domains: list,
      ips: list,
      credits: maybe<CreditsInput>() ?? credits,
      pools: maybe<Record<string, CreditsInput>>(),
      rateLimit: maybe<RateLimitInput>(),
      rateLimits: maybe<RateLimitInput[]>(),
      expiresAt: s,
      requireSignedRequests: b,
      metadata: maybe<{ plan: string }>(),
      signing: maybe<SigningInput>(),
    },
    actor,
  );
  await kw.tokens.import({ hash: "0".repeat(64), owner: "acct_1", kind: "secret", name: s, start: s, env: maybe<TokenEnv>(), signing: undefined }, actor);
  await kw.tokens.update(record.id, { name: s, signing }, { ...actor, effectiveAt: n, expectedRevision: n });
  await kw.tokens.list("acct_1", { limit: n, cursor: s, expiringBefore: n, dueForRotation: b, unusedSince: n });
  await kw.tokens.regenerate(record.id, { ...actor, graceMs: n, expectedRevision: n });
  await kw.tokens.revoke(record.id, actor);
  await kw.tokens.reportLeak("acme_sk_live_x", { source: "support", url: s, action: maybe<"flag">(), publishable: maybe<"flag">(), actor: s });
  kw.tokens.scan("acct_1", { now: n });
  await kw.verify(request, { scope: maybe<RequiredScopes>(), cost: n, pool: s, ip: req.socket.remoteAddress, body: maybe<Uint8Array>(), receivedUrl: req.url });
  const decision = await kw.check({ token: req.headers.authorization, scope: s, cost: n, pool: s, origin: req.headers.origin, secFetchMode: req.headers["sec-fetch-mode"] });
  if (!decision.ok) problemResponse(decision, { realm: s, problemTypeBase: s });
  await kw.accounts.set(
    "acct_1",
    {
      ceiling: list,
      credits: { limit: 10, refill: undefined, reset: undefined, overage: n },
      pools: undefined,
      rateLimit: undefined,
      tokens: { defaultLifetimeMs: n, maxLifetimeMs: n, rotationPeriodMs: n },
    },
    { actor: s, effectiveAt: s, expectedRevision: n },
  );
  await kw.accounts.members.set("acct_1", "user_1", "admin", { actor: s, role: maybe<Role>(), expectedRole: maybe<Role>(), expectedActorRole: maybe<Role>() });
  await kw.credits.topUp({ tokenId: record.id }, 10, { actor: s });
  await kw.billing.usage({ from: 0, to: 1, owner: s });
  await kw.billing.export({ from: 0, to: 1, owner: s, format: maybe<"csv">() });
  await kw.billing.run({ period: "2026-11", owner: s, onInvoice: () => {}, staleAfterMs: n, settleMs: n, actor: s });
  await kw.usage.get("acct_1", { from: n, to: n, granularity: maybe<AnalyticsGranularity>(), scope: s, code: s, groupBy: maybe<"scope">() });
  await kw.usage.top("acct_1", { from: n, to: n, limit: n, by: maybe<"requests">() });
  kw.anomalies.list({ tokenId: s, owner: s, kind: maybe<AnomalyKind>(), since: n });
  generateToken({ prefix: "acme", kind: "secret", env: "live", random: maybe<RandomSource>() });
  findTokens("text", { prefixes: list });
  new InvalidInputError("field", "message", { hint: s, cause: undefined });
  new StoreUnavailableError("down", { driverCode: s });

  createClientIpResolver({ trustedProxies: list, header: maybe<ForwardingHeader>(), allowCatchAllRanges: b, onWarning: maybe<(warning: ConfigWarning) => void>() });
  createTransportResolver({ trustedProxies: list, header: maybe<ForwardingHeader>() });

  const key = { alg: "ed25519" as const, privateKey: new Uint8Array(32) };
  const signOptions = {
    keyId: "tok_1",
    key,
    label: s,
    components: list,
    created: n,
    expires: n,
    nonce: maybe<true>(),
    tag: s,
    params: maybe<SignatureParamName[]>(),
    now: fn,
    digestAlgorithms: maybe<DigestAlgorithm[]>(),
    random: maybe<RandomSource>(),
    body: s,
  };
  await signRequest(request, { ...signOptions, keyid: s });
  await signatureHeaders(request, signOptions);
  signatureBase(request, {
    components: ["@method"],
    params: { created: n, expires: n, nonce: s, keyid: s, alg: s, tag: s },
    order: maybe<SignatureParamName[]>(),
  });
  await verifyRequest(request, {
    resolveKey: () => null,
    label: s,
    required: list,
    unsafeAllowNoFreshness: b,
    unsafeAllowUncoveredBody: b,
    maxAgeSec: n,
    clockSkewSec: n,
    now: fn,
    nonce: maybe<(nonce: string, expiresAtMs: number) => boolean>(),
    requireNonce: b,
    maxNonceLength: n,
    verifyDigest: b,
    maxBodyBytes: n,
    bodyTimeoutMs: n,
    body: maybe<Uint8Array>(),
    maxHeaderBytes: n,
    maxLabels: n,
    maxComponents: n,
    maxParameters: n,
    maxUrlBytes: n,
    maxStructuredFieldBytes: n,
    maxCoveredFieldBytes: n,
  });

  const settings = { components: list, nonce: b, expiresInSec: n, digestAlgorithms: maybe<DigestAlgorithm[]>(), digest: maybe<DigestAlgorithm[]>(), label: s, now: fn };
  const jwk: Ed25519Jwk = { kty: "OKP", crv: "Ed25519", x: s, d: s, use: s, key_ops: list };
  const signer = createSigner({ keyId: "tok_1", alg: "ed25519", privateKey: jwk, ...settings });
  createSigner({ keyId: "tok_1", alg: "hmac-sha256", token: "acme_sk_live_x", secret: undefined });
  createSigner({ keyId: "tok_1", alg: "hmac-sha256", secret: new Uint8Array(32), token: undefined });
  await signer.sign(request, { body: s });
  signerFromEnv({ prefix: s, env: maybe<Record<string, string>>(), ...settings });
  signedFetch(signer, undefined, { maxBodyBytes: n, crossOriginRedirects: maybe<"unsigned">() });

  sqliteStore(":memory:", { tablePrefix: s, synchronous: maybe<"FULL">(), busyTimeoutMs: n, requestBusyTimeoutMs: n, migrate: b });
  await postgresStore(pool, {
    tablePrefix: s,
    migrate: b,
    changeFeed: b,
    reconnectMinMs: n,
    reconnectMaxMs: n,
    heartbeatMs: n,
    onChangeFeedError: maybe<() => void>(),
    creditLeases: { ttlMs: n, maxBlock: n },
  });

  const edge = { publicOrigin: process.env.PUBLIC_ORIGIN, cors: b, maxBodyBytes: n, realm: s, problemTypeBase: s };
  const route = { scope: maybe<RequiredScopes>(), cost: n, pool: s };
  keywardHono(kw, { ...edge, getIp: maybe<(c: Context) => string>() }).requireToken({
    ...route,
    getToken: maybe<(c: Context) => string>(),
    onDenied: maybe<() => Response>(),
    onError: maybe<() => Response>(),
  });
  keywardExpress(kw, edge).requireToken({ ...route, getToken: undefined, onDenied: undefined, onError: undefined });
  keywardFastify(kw, edge).requireToken({ ...route, getToken: undefined, onDenied: undefined, onError: undefined });
  keywardFetch(kw, { ...edge, getIp: maybe<() => string>() }).requireToken(
    { ...route, getToken: maybe<(r: Request) => string>(), onDenied: undefined, onError: undefined },
    () => new Response(),
  );
  void c;

  const admin = createAdminHandler({
    keyward: kw,
    authorize: () => ({ owner: "acct_1", actor: s, role: maybe<Role>() }),
    basePath: s,
    datasets: list,
    grantableScopes: list,
    maxBodyBytes: n,
    bodyTimeoutMs: n,
    problemTypeBase: s,
    console: b,
    title: s,
  });
  toNodeHandler(admin, { publicOrigin: process.env.PUBLIC_ORIGIN, origin: s });

  createLeakReceiver({
    keyward: kw,
    publicKeys: [],
    refreshIntervalMs: n,
    keyMaxAgeMs: n,
    keyLoadTimeoutMs: n,
    onKeyError: maybe<(error: unknown) => void>(),
    action: maybe<"flag">(),
    tokenType: s,
    onLeak: undefined,
    maxBodyBytes: n,
    bodyTimeoutMs: n,
    maxMatches: n,
    maxRemembered: n,
  });

  describeTokenStore("mine", () => new MemoryStore(), { skip: maybe<["raw"]>(), raw: undefined, concurrency: n });
  describeTokenStore("mine", () => new MemoryStore(), { skip: { changeFeed: s, raw: "no hook" } });
}
