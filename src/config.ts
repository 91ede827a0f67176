// Options of `new Keyward(…)`: parsed with zod once, copied and frozen.
import * as z from "zod/mini";
import { ConfigError } from "./errors.js";
import { type RandomSource, secureRandom } from "./lib/crypto.js";
import { Keyring, MAKE_SEALING_KEY } from "./lib/seal.js";
import { ENGLISH, integer } from "./lib/zod.js";
import type { LifecycleEvent } from "./manager/lifecycle.js";
import { scopeListSchema } from "./model/schemas.js";
import type { AnomalyOptions } from "./monitor/anomalies.js";
import type { DecisionEvent } from "./monitor/events.js";
import type { TelemetryOptions } from "./monitor/telemetry.js";
import type { UsageWriteError } from "./monitor/usage-queue.js";
import type { ConfigWarning, ForwardingHeader } from "./policy/client-ip.js";
import { parseComponentId } from "./signing/components.js";
import { PARAM_NAMES } from "./signing/verify.js";
import { type GuardedStore, guardStore } from "./store/guard.js";
import { STORE_MESSAGE, storeShapeError } from "./store/shape.js";
import type { TokenStore } from "./store/types.js";
import { PREFIX_PATTERN, type TokenEnv } from "./token/format.js";

/** Default of `signatures.maxBodyBytes`: the largest signed body read, 1 MiB. */
export const DEFAULT_SIGNED_BODY_BYTES = 1 << 20;
/** Default of `signatures.bodyTimeoutMs`: how long a signed body may take to arrive, 10 s. */
export const DEFAULT_SIGNED_BODY_TIMEOUT_MS = 10_000;

/** Options of {@link Keyward}. */
export interface KeywardOptions {
  /** Where tokens and counters live: `new MemoryStore()`, a SQL store, or your own {@link TokenStore}. */
  store: TokenStore;
  /** Token prefix, `/^[a-z][a-z0-9]{0,15}$/`: tokens look like `acme_sk_live_…`. */
  prefix: string;
  /** Environment of the tokens this instance issues and accepts (default `"live"`). */
  env?: TokenEnv | undefined;
  /**
   * Sealing key(s) for HMAC signing keys at rest: 32 random bytes, base64 or
   * base64url (e.g. `openssl rand -base64 32`), from the environment. Give an
   * array to rotate: the first seals, all unseal.
   */
  sealingKey?: string | readonly string[] | undefined;
  /** Maximum staleness of any cached lookup, or in-flight one a request shares, ms (default 10 000; 0 disables the cache). */
  revocationBoundMs?: number | undefined;
  /** Delay before a permission change applies when it names no `effectiveAt`, ms (default 0). */
  propagationDelayMs?: number | undefined;
  /**
   * Scopes a token gets when created without `scopes` (default `["core:read"]`),
   * checked as `scopes` given to `tokens.create` are: one holding a token is
   * `INVALID_CONFIG`.
   */
  defaultScopes?: readonly string[] | undefined;
  /** Let publishable tokens hold scopes other than `…:read` (default false). */
  allowPublishableWrites?: boolean | undefined;
  /** Clock, epoch ms (default `Date.now`). Inject a frozen clock in tests. */
  now?: (() => number) | undefined;
  /** Random source (default `crypto.getRandomValues`). Inject only in tests. */
  random?: RandomSource | undefined;
  /** Lookup cache of the request path. Entries never outlive `revocationBoundMs`. */
  cache?: {
    /** Maximum entries, positive and negative (default 10 000; 0 disables the cache). */
    maxEntries?: number | undefined;
    /** Age limit of "no such token" entries, ms (default 1 000, at most `revocationBoundMs`). */
    negativeTtlMs?: number | undefined;
  } | undefined;
  /**
   * Proxies (CIDRs) whose forwarding header is believed. Default none: the
   * client IP is the socket address given to `verify`, and `X-Forwarded-For`
   * / `Forwarded` are ignored.
   */
  trustedProxies?: readonly string[] | undefined;
  /** Which forwarding header trusted proxies set (default `"x-forwarded-for"`). */
  forwardedHeader?: ForwardingHeader | undefined;
  /**
   * Accept `0.0.0.0/0` / `::/0` in `trustedProxies` (default false:
   * `INVALID_CONFIG`), so that every peer's forwarding header is believed.
   * Token `ips` never accept a /0.
   */
  allowCatchAllRanges?: boolean | undefined;
  /**
   * Receives configuration warnings, when the `Keyward` is built (default:
   * `console.warn`): a very wide trusted proxy block (`WIDE_TRUSTED_RANGE`),
   * a store whose request-path wait blocks the thread as long as
   * `lookupTimeoutMs` or longer, which that timeout cannot cut off
   * (`STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT`: SQLite's `requestBusyTimeoutMs`).
   */
  onWarning?: ((warning: ConfigWarning) => void) | undefined;
  /** Accept the token in this query parameter too (default null: header only; query strings end up in logs). */
  queryParam?: string | null | undefined;
  /** Accept secret tokens from browser contexts (default false: `SECRET_IN_BROWSER`). */
  allowSecretInBrowser?: boolean | undefined;
  /**
   * Refuse tokens sent over plain `http` with `INSECURE_TRANSPORT`: `"secret"`
   * tokens only, `"all"` tokens, or `false`. Default `"secret"` when `env` is
   * `"live"`, `false` for `"test"`. The loopback is exempt; behind proxies the
   * scheme comes from `X-Forwarded-Proto` / `Forwarded: proto=` of a trusted proxy.
   */
  requireHttps?: "secret" | "all" | false | undefined;
  /** Token lifetimes and rotation (see docs/lifecycle.md). Every field is optional; absent = no rule. */
  tokens?: TokenLifetimeOptions | undefined;
  /**
   * A store call on the request path (a token or account lookup, `meter`,
   * a nonce) that takes longer is abandoned and the request denied with
   * STORE_UNAVAILABLE, ms (default 2 000). An abandoned `meter` call may
   * still be counted by the store when it recovers (on PostgreSQL, not one
   * that waited for a lock or a connection of the pool: see `requestLockTimeoutMs` of `postgresStore`).
   */
  lookupTimeoutMs?: number | undefined;
  /**
   * Other application prefixes whose tokens this instance also accepts (for
   * example while renaming a prefix). Default none: a verifier accepts only
   * tokens with its own `prefix`, even from a store shared with another
   * application.
   */
  acceptPrefixes?: readonly string[] | undefined;
  /**
   * Accept tokens not in keyward's format, imported by the SHA-256 of their
   * string with `tokens.import` (a migration from a home-made key system).
   * Default false. Give the shape of the legacy keys: only strings that start
   * with `prefix` and have at least `minLength` characters (at most 512) are
   * looked up, so a short guess never reaches the store. See
   * docs/verifying-requests.md, "Imported keys", for the risks.
   */
  acceptForeignTokens?: false | ForeignTokenPattern | undefined;
  /** Verification of signed requests (RFC 9421). */
  signatures?: {
    /** Oldest acceptable `created`, seconds (default 300). Nonces are remembered this long. */
    maxAgeSec?: number | undefined;
    /** Clock difference tolerated, seconds (default 30). */
    clockSkewSec?: number | undefined;
    /** Refuse signatures without a nonce (default true: without one a request can be replayed within maxAgeSec). */
    requireNonce?: boolean | undefined;
    /**
     * Components and parameters every signature must cover (default `["@method", "@target-uri", "created"]`).
     * Whatever the list, `created` or `expires` stays required, and so does `content-digest` when the
     * request has a body, unless `unsafeAllowNoFreshness` / `unsafeAllowUncoveredBody` say otherwise.
     */
    required?: readonly string[] | undefined;
    /** Accept signatures without `created` or `expires` (default false). Unsafe: they never expire, so their nonces are kept forever. */
    unsafeAllowNoFreshness?: boolean | undefined;
    /** Accept a body not covered by `content-digest` (default false). Unsafe: the body can be swapped under the signature. */
    unsafeAllowUncoveredBody?: boolean | undefined;
    /** Largest body read to check `Content-Digest`, bytes (default 1 MiB). */
    maxBodyBytes?: number | undefined;
    /** Longest wait for the body, read only after the signature has verified, ms (default 10 000): slower is `BODY_TIMEOUT` (408). */
    bodyTimeoutMs?: number | undefined;
  } | undefined;
  /**
   * Anomaly alerts (docs/monitoring.md): a never-seen IP or origin, a spike
   * over the learned rate, a burst of denials, use after a long idle, a secret
   * token from a browser. Default off; `{}` turns every detector on with its defaults.
   */
  anomalies?: AnomalyOptions | undefined;
  /**
   * OpenTelemetry metrics and spans, and a logger hook (docs/monitoring.md):
   * pass `metrics.getMeter("keyward")` and `trace.getTracer("keyward")` from
   * `@opentelemetry/api`. Default none: a no-op.
   */
  telemetry?: TelemetryOptions | undefined;
  /** Usage metering of verified requests. */
  usage?: {
    /** Record usage (default true). */
    enabled?: boolean | undefined;
    /** Events buffered before a write (default 1 000). */
    batchSize?: number | undefined;
    /**
     * Interval of the flush timer, ms (default 1 000; 0 writes after every event). `kw.close()` writes what is left.
     * After a failed write, requests start no write until one succeeds: the timer retries once per interval (once a second with 0).
     */
    flushIntervalMs?: number | undefined;
    /** Most events waiting to be written (default 100 000); beyond, events are dropped and counted (`kw.usage.stats()`). */
    maxQueue?: number | undefined;
    /**
     * Distinct scopes a token's usage rows have per UTC minute, per instance (default 100): its requests
     * of that minute past them are counted under the scope `"(other)"`, and the first such token of each
     * minute is told to `telemetry.logger` (`usage.scopes_capped`; without a logger, one `console.warn`).
     * A row is kept per token, minute, scope and code: an application that builds a route's scope from
     * the client's input would otherwise let any token holder add a row per value per minute.
     */
    maxScopesPerMinute?: number | undefined;
    /**
     * How long a usage write may wait for the store's answer, ms (default 10 000): one not answered
     * by then (a frozen server, a connection gone silent) fails as `STORE_UNAVAILABLE` and its batch
     * is written again under its number, so the queue, `kw.close()` and a billing run never wait for
     * it forever, and a store adds the batch once even when the abandoned write commits later. A write
     * of shared anomaly state (`anomalies.shared`) waits as long at most.
     */
    writeTimeoutMs?: number | undefined;
    /** Called with every decision (identified or not), after the request's tick, in batches, frozen (copy it to change it); a throw, or a rejection of an async hook, is ignored. */
    onDecision?: ((event: DecisionEvent) => void) | undefined;
    /**
     * Called when a usage write fails (the events are queued again while there is room; on `kw.close()`, after one retry, dropped and counted).
     * Default, without `telemetry.logger` either: a `console.warn` at the first failure of each outage and for what `kw.close()` drops.
     */
    onError?: ((error: UsageWriteError) => void) | undefined;
  } | undefined;
}

/** The shape of legacy keys accepted by `acceptForeignTokens`. */
export interface ForeignTokenPattern {
  /** What every legacy key starts with, e.g. `"sk_"` (1 to 64 characters). */
  prefix: string;
  /** Fewest characters a legacy key has, prefix included (at least 20). */
  minLength: number;
}

/** The parsed, frozen configuration. */
/** Lifetimes and rotation, for the whole application. */
export interface TokenLifetimeOptions {
  /** Expiry given to a token created without `expiresAt`: now + this, ms (default none: no expiry). */
  defaultLifetimeMs?: number | null | undefined;
  /**
   * Latest expiry a create or update may set: now + this, ms (default none).
   * With it, a token without an expiry is refused (`LIFETIME_EXCEEDED`), so
   * set `defaultLifetimeMs` too (at most this).
   */
  maxLifetimeMs?: number | null | undefined;
  /** A token is due for rotation this long after its secret was issued (created or regenerated), ms (default none). */
  rotationPeriodMs?: number | null | undefined;
  /** How long before its expiry a token counts as expiring soon in `kw.tokens.scan`, ms (default 7 days). */
  expiringSoonMs?: number | undefined;
  /**
   * `kw.tokens.scan` reports a token with no allowed request for this long
   * (since its last use, or its creation) as `unused`, ms (default none; at
   * least a minute). Needs a store with `capabilities.usageAnalytics`.
   */
  unusedAfterMs?: number | null | undefined;
  /**
   * How long `kw.tokens.create` keeps an `idempotencyKey` (the admin API's
   * `Idempotency-Key`), ms (default 24 hours): the same request sent again
   * under the key within it answers the token made the first time; after
   * it, the key is new again. From a minute to 30 days.
   */
  idempotencyKeyRetentionMs?: number | undefined;
  /**
   * Called with each event `kw.tokens.scan` reports (expired, expiring soon,
   * rotation due, unused), as it yields it: one place to notify owners from,
   * whichever job or the CLI runs the scan. A throw, or a rejection of an async hook, is ignored.
   */
  onLifecycle?: ((event: LifecycleEvent) => void) | undefined;
}

export interface ResolvedConfig {
  /** The store inside `guardStore`: validated calls, sanitized errors. */
  readonly store: GuardedStore;
  readonly prefix: string;
  readonly env: TokenEnv;
  readonly keyring: Keyring;
  readonly revocationBoundMs: number;
  readonly propagationDelayMs: number;
  readonly defaultScopes: readonly string[];
  readonly allowPublishableWrites: boolean;
  readonly now: () => number;
  readonly random: RandomSource;
  readonly cache: { readonly maxEntries: number; readonly negativeTtlMs: number };
  readonly trustedProxies: readonly string[];
  readonly forwardedHeader: ForwardingHeader;
  readonly allowCatchAllRanges: boolean;
  readonly onWarning?: ((warning: ConfigWarning) => void) | undefined;
  readonly queryParam: string | null;
  readonly allowSecretInBrowser: boolean;
  readonly requireHttps: "secret" | "all" | false;
  readonly tokens: {
    readonly defaultLifetimeMs: number | null;
    readonly maxLifetimeMs: number | null;
    readonly rotationPeriodMs: number | null;
    readonly unusedAfterMs: number | null;
    readonly onLifecycle?: ((event: LifecycleEvent) => void) | undefined;
    readonly expiringSoonMs: number;
    readonly idempotencyKeyRetentionMs: number;
  };
  /** Token prefixes accepted: `prefix` first, then `acceptPrefixes`. */
  readonly prefixes: readonly string[];
  readonly acceptForeignTokens: false | Readonly<ForeignTokenPattern>;
  readonly lookupTimeoutMs: number;
  readonly anomalies?: AnomalyOptions | undefined;
  readonly telemetry?: TelemetryOptions | undefined;
  readonly usage: {
    readonly enabled: boolean;
    readonly batchSize: number;
    readonly flushIntervalMs: number;
    readonly maxQueue: number;
    readonly maxScopesPerMinute: number;
    readonly writeTimeoutMs: number;
    readonly onDecision?: ((event: DecisionEvent) => void) | undefined;
    readonly onError?: ((error: UsageWriteError) => void) | undefined;
  };
  readonly signatures: {
    readonly maxAgeSec: number;
    readonly clockSkewSec: number;
    readonly requireNonce: boolean;
    readonly required?: readonly string[] | undefined;
    readonly unsafeAllowNoFreshness: boolean;
    readonly unsafeAllowUncoveredBody: boolean;
    readonly maxBodyBytes: number;
    readonly bodyTimeoutMs: number;
  };
}

const DAY = 86_400_000;
/** Longest lifetime or period an option may say: 100 years, ms. */
const LIFETIME_CAP = 36_525 * DAY;

/** Longest string looked up as a foreign (imported) token. */
export const MAX_FOREIGN_TOKEN_LENGTH = 512;

const DERIVED = new Set(["@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query", "@query-param"]);

/** Whether a `signatures.required` entry names a signature parameter or a request component (RFC 9421 §2). */
function isCoverable(entry: string): boolean {
  if (PARAM_NAMES.has(entry)) return true;
  try {
    const [name] = parseComponentId(entry);
    return typeof name === "string" && (!name.startsWith("@") || DERIVED.has(name));
  } catch {
    return false;
  }
}

/** A function given as an option (a clock, a hook). */
const aFunction = <F>() => z.custom<F>((f) => typeof f === "function", "must be a function");
const PREFIX_MESSAGE = "must match /^[a-z][a-z0-9]{0,15}$/";

const schema = z.strictObject({
  // Its methods and capabilities are checked after, naming what is missing (storeShapeError).
  store: z.custom<TokenStore>((s) => typeof s === "object" && s !== null, STORE_MESSAGE),
  prefix: z.string().check(z.regex(PREFIX_PATTERN, PREFIX_MESSAGE)),
  env: z._default(z.enum(["live", "test"]), "live"),
  sealingKey: z.pipe(
    z.optional(
      z.union([z.string(), z.array(z.string()).check(z.maxLength(16))], {
        error: `must be a sealing key (a string: 32 random bytes in base64 or base64url, as ${MAKE_SEALING_KEY} prints) or a list of at most 16, the first sealing`,
      }),
    ),
    z.transform((v) => (v === undefined ? [] : typeof v === "string" ? [v] : v)),
  ),
  revocationBoundMs: z._default(integer(0, DAY), 10_000),
  propagationDelayMs: z._default(integer(0, 30 * DAY), 0),
  // As a token's scopes are checked when given to `tokens.create`: stored with each token created without scopes.
  defaultScopes: z._default(scopeListSchema, ["core:read"]),
  allowPublishableWrites: z._default(z.boolean(), false),
  now: z._default(aFunction<() => number>(), () => Date.now),
  random: z._default(aFunction<RandomSource>(), () => secureRandom),
  cache: z._default(
    z.strictObject({
      maxEntries: z._default(integer(0, 10_000_000), 10_000),
      negativeTtlMs: z._default(integer(0, DAY), 1_000),
    }),
    { maxEntries: 10_000, negativeTtlMs: 1_000 },
  ),
  trustedProxies: z._default(z.array(z.string()).check(z.maxLength(1024)), []),
  forwardedHeader: z._default(z.enum(["x-forwarded-for", "forwarded"]), "x-forwarded-for"),
  allowCatchAllRanges: z._default(z.boolean(), false),
  onWarning: z.optional(aFunction<(warning: ConfigWarning) => void>()),
  queryParam: z._default(z.nullable(z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be a query parameter name"))), null),
  allowSecretInBrowser: z._default(z.boolean(), false),
  tokens: z._default(
    z
      .strictObject({
        defaultLifetimeMs: z._default(z.nullable(integer(1, LIFETIME_CAP)), null),
        maxLifetimeMs: z._default(z.nullable(integer(1, LIFETIME_CAP)), null),
        rotationPeriodMs: z._default(z.nullable(integer(1, LIFETIME_CAP)), null),
        expiringSoonMs: z._default(integer(0, LIFETIME_CAP), 7 * DAY),
        unusedAfterMs: z._default(z.nullable(integer(60_000, LIFETIME_CAP)), null),
        idempotencyKeyRetentionMs: z._default(integer(60_000, 30 * DAY), DAY),
        onLifecycle: z.optional(aFunction<(event: LifecycleEvent) => void>()),
      })
      .check(
        z.refine((t) => t.maxLifetimeMs === null || t.defaultLifetimeMs === null || t.defaultLifetimeMs <= t.maxLifetimeMs, {
          message: "defaultLifetimeMs must not exceed maxLifetimeMs",
          path: ["defaultLifetimeMs"],
        }),
      ),
    { defaultLifetimeMs: null, maxLifetimeMs: null, rotationPeriodMs: null, expiringSoonMs: 7 * DAY, unusedAfterMs: null, idempotencyKeyRetentionMs: DAY },
  ),
  requireHttps: z.optional(z.union([z.literal("secret"), z.literal("all"), z.literal(false)], { error: 'must be "secret", "all" or false' })),
  acceptPrefixes: z._default(z.array(z.string().check(z.regex(PREFIX_PATTERN, PREFIX_MESSAGE))).check(z.maxLength(16)), []),
  acceptForeignTokens: z._default(
    z.union(
      [
        z.literal(false),
        z.strictObject({
          prefix: z.string().check(z.minLength(1), z.maxLength(64)),
          minLength: integer(20, MAX_FOREIGN_TOKEN_LENGTH),
        }),
      ],
      { error: "must be false or { prefix, minLength }: say what legacy keys look like" },
    ),
    false,
  ),
  lookupTimeoutMs: z._default(integer(1, 60_000), 2_000),
  signatures: z._default(
    z.strictObject({
      maxAgeSec: z._default(integer(1, 86_400), 300),
      clockSkewSec: z._default(integer(0, 3_600), 30),
      requireNonce: z._default(z.boolean(), true),
      required: z.optional(
        z
          .array(z.string().check(z.maxLength(256), z.refine(isCoverable, "not a signature parameter or a component keyward can verify")))
          .check(z.minLength(1), z.maxLength(64)),
      ),
      unsafeAllowNoFreshness: z._default(z.boolean(), false),
      unsafeAllowUncoveredBody: z._default(z.boolean(), false),
      maxBodyBytes: z._default(integer(0, 1 << 30), DEFAULT_SIGNED_BODY_BYTES),
      bodyTimeoutMs: z._default(integer(1, 600_000), DEFAULT_SIGNED_BODY_TIMEOUT_MS),
    }),
    {
      maxAgeSec: 300,
      clockSkewSec: 30,
      requireNonce: true,
      unsafeAllowNoFreshness: false,
      unsafeAllowUncoveredBody: false,
      maxBodyBytes: DEFAULT_SIGNED_BODY_BYTES,
      bodyTimeoutMs: DEFAULT_SIGNED_BODY_TIMEOUT_MS,
    },
  ),
  // Checked field by field (ranges named) by the AnomalyDetector constructor.
  anomalies: z.optional(z.custom<AnomalyOptions>((v) => typeof v === "object" && v !== null, "must be an object")),
  telemetry: z.optional(
    z.strictObject({
      meter: z.optional(z.custom<TelemetryOptions["meter"]>((m) => typeof (m as { createCounter?: unknown })?.createCounter === "function", "must be an OpenTelemetry Meter")),
      tracer: z.optional(z.custom<TelemetryOptions["tracer"]>((t) => typeof (t as { startSpan?: unknown })?.startSpan === "function", "must be an OpenTelemetry Tracer")),
      logger: z.optional(aFunction<TelemetryOptions["logger"]>()),
      latencySampleEvery: z.optional(integer(1, 1_000_000)),
    }),
  ),
  usage: z._default(
    z.strictObject({
      enabled: z._default(z.boolean(), true),
      batchSize: z._default(integer(1, 100_000), 1_000),
      flushIntervalMs: z._default(integer(0, DAY), 1_000),
      maxQueue: z._default(integer(1, 10_000_000), 100_000),
      maxScopesPerMinute: z._default(integer(1, 1_000_000), 100),
      writeTimeoutMs: z._default(integer(1, 600_000), 10_000),
      onDecision: z.optional(aFunction<(event: DecisionEvent) => void>()),
      onError: z.optional(aFunction<(error: UsageWriteError) => void>()),
    }),
    { enabled: true, batchSize: 1_000, flushIntervalMs: 1_000, maxQueue: 100_000, maxScopesPerMinute: 100, writeTimeoutMs: 10_000 },
  ),
});

/**
 * Parses and freezes the options.
 * @throws {ConfigError} `INVALID_CONFIG`, naming the option
 */
export function resolveConfig(options: KeywardOptions): ResolvedConfig {
  const r = schema.safeParse(options, ENGLISH);
  if (!r.success) {
    const issue = r.error.issues[0];
    // A misspelt option is named as the field (as tokens.create names an unknown field), not as zod's "Unrecognized key".
    const unknownKey = issue?.code === "unrecognized_keys" ? issue.keys[0] : undefined;
    const field = [...(issue?.path ?? []), ...(unknownKey === undefined ? [] : [unknownKey])].map(String).join(".");
    throw new ConfigError(field, unknownKey === undefined ? (issue?.message ?? "invalid options") : "unknown option");
  }
  const keyring = Keyring.parse(r.data.sealingKey);
  if (!(keyring instanceof Keyring)) {
    const field = typeof options.sealingKey === "string" ? "sealingKey" : `sealingKey.${keyring.invalid}`;
    throw new ConfigError(field, `must be 32 bytes in base64 or base64url (${MAKE_SEALING_KEY})`);
  }
  const { sealingKey: _, acceptPrefixes, ...rest } = r.data;
  const prefixes = Object.freeze([...new Set([rest.prefix, ...acceptPrefixes])]);
  const defect = storeShapeError(rest.store);
  if (defect !== null) throw new ConfigError(defect.field, defect.message);
  const store = guardStore(rest.store);
  if (rest.tokens.unusedAfterMs !== null && store.capabilities.usageAnalytics !== true) {
    throw new ConfigError("tokens.unusedAfterMs", "needs a store with capabilities.usageAnalytics (last uses)");
  }
  const requireHttps = rest.requireHttps ?? (rest.env === "live" ? "secret" : false);
  return Object.freeze({ ...rest, store, prefixes, requireHttps, defaultScopes: Object.freeze([...rest.defaultScopes]), keyring });
}
