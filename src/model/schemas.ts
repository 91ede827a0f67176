// zod schemas of the admin API's inputs. Parsed once per admin call, never on
// the request path. Every failure becomes an InvalidInputError naming the field.
import * as z from "zod/mini";
import {
  DomainsOnSecretError,
  type InputErrorCode,
  InvalidInputError,
  InvalidKeyError,
  LastOwnerError,
  LifetimeExceededError,
  SigningMissingError,
  TimeInSecondsError,
} from "../errors.js";
import { toBase64Url } from "../lib/bytes.js";
import { sha256Hex } from "../lib/crypto.js";
import { hasUnportableText, hasUnsafeText } from "../lib/text.js";
import { ENGLISH, integer } from "../lib/zod.js";
import { parseDomainPattern } from "../policy/domain.js";
import { parseCidr } from "../policy/ip.js";
import { coversPublicSuffix } from "../policy/public-suffix.js";
import { parseScope } from "../policy/scope.js";
import { type Ed25519PublicKeyInput, ed25519PublicKey } from "../signing/key-formats.js";
import { ed25519PublicPoint } from "../signing/keys.js";
import { findTokens } from "../token/format.js";
import { DEFAULT_POOL, isPoolName, MAX_CREDIT_BALANCE, MAX_IDEMPOTENCY_KEY_LENGTH, MAX_POOLS, MAX_RATE_LIMITS } from "./pools.js";
import type { CreditsPolicy, JsonValue, RateLimitPolicy } from "./types.js";

export type { CreateTokenInput, ImportTokenInput, UpdateTokenInput } from "./inputs.js";

const UNSAFE_TEXT_MESSAGE = "must not contain control, bidi or invisible characters, line separators or lone surrogates";

/** A zod issue's `params.code`: the error class parseInput throws for it. */
const issueCode = (code: InputErrorCode, hint?: string) => ({ params: { code, hint } });

/**
 * What stored text must not hold: a token (a secret pasted into the wrong
 * field would sit in the record, the audit log and every display of them).
 * Any well-formed token, of any prefix, as leak scanners find it.
 */
export const holdsToken = (s: string) => findTokens(s).length > 0;
/** Why text holding a token is refused (the text itself is never echoed). */
export const TOKEN_IN_TEXT = "looks like a token, which keyward never stores in the clear";
/** The issue of a token in stored text (a fresh object: zod's refine takes its params over). */
const tokenInText = (what = "") => ({
  message: `${what}${TOKEN_IN_TEXT}`,
  ...issueCode("INVALID_INPUT", "store its id (tok_…) instead"),
});

/**
 * Fails a transform with an issue, as the classic API's `ctx.addIssue` did
 * (a `zod/mini` transform is handed the bare payload).
 */
function fail(ctx: z.core.ParsePayload, issue: { message: string; path?: (string | number)[]; params?: Record<string, unknown> | undefined }): never {
  ctx.issues.push({ code: "custom", input: ctx.value, ...issue });
  return z.NEVER;
}

/**
 * Characters that show nothing on their own and that safe text may still
 * hold among others: white space (U+00A0, U+3000 and the rest of
 * `White_Space`), default-ignorable code points (the Hangul fillers U+115F,
 * U+1160, U+3164 and U+FFA0, the combining grapheme joiner, variation
 * selectors) and U+2800 BRAILLE PATTERN BLANK, which renders as a space.
 */
const BLANK = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}\u2800]*$/u;

/** Whether `s` shows nothing: empty, or only blank characters ({@link BLANK}). Text that names someone must not be. */
function isBlankText(s: string): boolean {
  return BLANK.test(s);
}

/** Text as a look-up key: no character that could forge a log line or disguise text on a terminal. */
const safeText = (max: number) =>
  z.string().check(z.maxLength(max, `must be at most ${max} characters`), z.refine((s) => !hasUnsafeText(s), UNSAFE_TEXT_MESSAGE));

/**
 * Free text that is stored and later printed (names, owners, actors): safe
 * text, and no token.
 */
const text = (max: number) => safeText(max).check(z.refine((s) => !holdsToken(s), tokenInText()));

/**
 * An owner or an actor that a call stores: 1 to 256 characters of safe text
 * that names someone (not only spaces or characters that show nothing, such
 * as a Hangul filler or a braille blank), no token.
 */
export const ownerSchema = text(256).check(
  z.minLength(1, "must not be empty"),
  z.refine((s) => s === "" || !isBlankText(s), "must name someone (not only spaces or invisible characters)"),
);
/** Who performs an admin action, as the audit log keeps it (and a member id, who will): as an owner. */
export const actorSchema = ownerSchema;

/** The actor an admin call that names none is audited as. */
export const DEFAULT_ACTOR = "system";
/**
 * A credit top-up's or reset's idempotency key, which the store keeps: 1 to
 * 255 characters of safe text, no token.
 */
export const idempotencyKeySchema = text(MAX_IDEMPOTENCY_KEY_LENGTH).check(z.minLength(1, "must not be empty"));
/** Why an account is suspended, as the operator says it: up to 500 characters of safe text, not only spaces, no token. */
export const suspensionReasonSchema = text(500).check(z.refine((s) => !isBlankText(s), "must say why (not empty, not only spaces or invisible characters)"));
/**
 * An owner or a member a call only looks up: as {@link ownerSchema}, but
 * neither a token nor blank text is refused, so what was stored before they
 * were refused can still be found (and cleaned up).
 */
export const ownerQuerySchema = safeText(256).check(z.minLength(1, "must not be empty"));

/**
 * 3 March 1973 in epoch ms (1e11): a smaller "millisecond" time is seconds
 * (seconds of any year up to 5138 are below it; 1.9e9 s is 2030), while a
 * real time after it, even one long past, is taken as the time it is: a
 * 1999 expiry is refused as past, not as seconds.
 */
export const SECONDS_BOUND = 1e11;

// RFC 3339 §5.6 date-time (a zone is required: a local time means a different
// instant on every server) or a full-date, read as midnight UTC.
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2})))?$/;

/**
 * Epoch ms of an RFC 3339 date-time (with its zone) or full-date (midnight
 * UTC), or null when it is not one: 2026-02-30, a time without a zone, or any
 * other text `Date.parse` would still read.
 */
export function isoToEpochMs(s: string): number | null {
  const m = ISO_DATE_TIME.exec(s);
  if (!m) return null;
  const [y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0] = m.slice(1).map((v) => (v === undefined ? undefined : Number(v)));
  const days = new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > days || h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59) return null;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * A time as epoch ms: a number of milliseconds, a Date, or an ISO-8601
 * (RFC 3339) string; within the range of a JS Date.
 */
const VALID_TIME = "must be a valid time (epoch ms, Date or ISO-8601 string such as 2027-01-01T00:00:00Z)";

export const timestamp = z.pipe(
  z.union([z.number(), z.instanceof(Date), z.string().check(z.maxLength(64))], { error: VALID_TIME }),
  z.transform((v, ctx) => {
    const ms = v instanceof Date ? v.getTime() : typeof v === "string" ? isoToEpochMs(v) : v;
    if (ms === null || !Number.isSafeInteger(ms) || ms < 0 || ms > 8.64e15) return fail(ctx, { message: VALID_TIME });
    // A number, or a Date made from one (`new Date(seconds)` is in January 1970); an ISO string says what it means.
    if (typeof v !== "string" && ms < SECONDS_BOUND) {
      return fail(ctx, {
        message: "looks like seconds, not milliseconds",
        ...issueCode("TIME_IN_SECONDS", "times are epoch milliseconds: multiply by 1000, or pass a Date or an ISO string"),
      });
    }
    return ms;
  }),
);

const count = (min: number) => integer(min, Number.MAX_SAFE_INTEGER);
/** A credit amount (a limit, a refill): what every balance operation accepts, as an account's pools. */
const creditAmount = (min: number) => integer(min, MAX_CREDIT_BALANCE);

/**
 * A scope that is stored (a token's, an account ceiling's): of the scope
 * grammar, and no token (a segment may be `acme_sk_live_…`).
 */
export const scopeSchema = z.string().check(
  z.superRefine((s, ctx) => {
    if (holdsToken(s)) ctx.addIssue({ code: "custom", ...tokenInText() });
    else if (parseScope(s) === null) ctx.addIssue({ code: "custom", message: "invalid scope (expected resource[/name…]:action)" });
  }),
);

/** A list kept as a set: the first of each repeated entry, in the order given. */
export const distinct = <T>(list: T[]): T[] => [...new Set(list)];

/** A token's scopes (and the application's default ones): at most 256, each kept once. */
export const scopeListSchema = z.pipe(z.array(scopeSchema).check(z.maxLength(256, "at most 256 scopes")), z.transform(distinct));

/** Allowed domains: patterns (a host may hold `_`, so a token, bare or as a label: refused), none covering a public suffix. */
/** A list of strings, each checked by `check`, at most `max` (`message` beyond), each kept once. */
const stringSet = (max: number, message: string, check: (s: string, ctx: z.core.$RefinementCtx<string>) => void) =>
  z.pipe(z.array(z.string().check(z.superRefine(check))).check(z.maxLength(max, message)), z.transform(distinct));

const domains = stringSet(256, "at most 256 domains", (s, ctx) => {
  const p = parseDomainPattern(s);
  if (holdsToken(s)) ctx.addIssue({ code: "custom", ...tokenInText() });
  else if (p === null) ctx.addIssue({ code: "custom", message: "invalid domain pattern" });
  else if (coversPublicSuffix(p)) ctx.addIssue({ code: "custom", message: "covers a public suffix (publicsuffix.org): name your own domain" });
});

const ips = stringSet(1024, "at most 1024 IP ranges", (s, ctx) => {
  const c = parseCidr(s);
  if (c === null) ctx.addIssue({ code: "custom", message: "invalid IP address or CIDR" });
  // `::a.b.c.d` (RFC 4291 §2.5.5.1, deprecated) is the IPv6 address ::w:x, which no
  // client has: an IPv4 client is `a.b.c.d`, or `::ffff:a.b.c.d` when mapped.
  else if (c.version === 6 && s.includes(".") && c.bytes.subarray(0, 12).every((b) => b === 0)) {
    ctx.addIssue({ code: "custom", message: "an IPv4-compatible address (::a.b.c.d) is not the IPv4 client a.b.c.d: write a.b.c.d" });
  }
  // A /0 allows every address of its family: an empty list is the way to say "no restriction".
  else if (c.prefix === 0) ctx.addIssue({ code: "custom", message: "a /0 range allows every address: leave ips empty for no restriction" });
});

const creditsObject = z.pipe(
  z
    .strictObject({
      limit: creditAmount(0),
      refill: z.pipe(
        z.nullish(z.strictObject({ amount: creditAmount(1), intervalMs: count(1000) })),
        z.transform((v) => v ?? null),
      ),
      reset: z.nullish(z.enum(["day", "month"])),
    })
    .check(
      z.superRefine((c, ctx) => {
        if (c.refill !== null && c.reset != null) ctx.addIssue({ code: "custom", path: ["reset"], message: "cannot be combined with refill" });
      }),
    ),
  // A pool without a calendar reset is stored as before resets existed (no `reset` key).
  z.transform((c): CreditsPolicy => (c.reset == null ? { limit: c.limit, refill: c.refill } : { limit: c.limit, refill: c.refill, reset: c.reset })),
);

const credits = z.nullable(creditsObject);

/**
 * Every `pools` record (a token's, an account's), null for none: at most
 * MAX_POOLS, each named, none `default`. The names are checked on the
 * input's own keys, before zod builds the record: there a `__proto__` key
 * (an own key of JSON.parse'd input) would set the new record's prototype
 * and vanish, and a change would silently drop every pool.
 */
export function poolsSchema<V extends z.ZodMiniType>(pool: V) {
  const record = z.nullable(z.record(z.string(), pool));
  // A pipe from a transform is what the classic API's `z.preprocess` builds (and JSON Schema reads as `record`).
  type Input = z.input<typeof record>;
  const names: z.ZodMiniTransform<Input, Input> = z.transform((input: Input, ctx) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return input;
    const issues = poolNameIssues(Object.keys(input));
    if (issues.length === 0) return input;
    for (const issue of issues) ctx.issues.push({ code: "custom", input, ...issue });
    return z.NEVER;
  });
  return z.pipe(z.pipe(names, record), z.transform((p) => p ?? ({} as NonNullable<typeof p>)));
}

function poolNameIssues(names: readonly string[]): { path?: string[]; message: string }[] {
  const issues: { path?: string[]; message: string }[] = [];
  if (names.length > MAX_POOLS) issues.push({ message: `at most ${MAX_POOLS} pools` });
  for (const name of names) {
    if (name === DEFAULT_POOL) issues.push({ path: [name], message: "the default pool is `credits`, not a named pool" });
    else if (!isPoolName(name)) issues.push({ path: [name], message: "must be a pool name: a lowercase letter, then up to 31 of a-z, 0-9, _ or -" });
  }
  return issues;
}

const pools = poolsSchema(creditsObject);

const rateLimitObject = z.strictObject({ limit: count(1), windowMs: count(1).check(z.maximum(31 * 86_400_000)) });

const rateLimit = z.nullable(rateLimitObject);

const rateLimits = z.pipe(
  z.nullable(z.array(rateLimitObject).check(z.maxLength(MAX_RATE_LIMITS, `at most ${MAX_RATE_LIMITS} rate limits`))).check(
    z.superRefine((l, ctx) => {
      const seen = new Set<number>();
      l?.forEach((r, i) => {
        if (seen.has(r.windowMs)) ctx.addIssue({ code: "custom", path: [i, "windowMs"], message: "must differ from every other limit's window" });
        seen.add(r.windowMs);
      });
    }),
  ),
  z.transform((l) => l ?? []),
);

const ED25519_KEY_BYTES = 32;

/**
 * Why 32 bytes are not an acceptable ed25519 public key, or null: what
 * verification refuses ({@link ed25519PublicPoint}), and a point outside the
 * prime-order subgroup (a mixed-order point, aB + T for a torsion point T),
 * which no key generation gives and under which most honest signatures fail
 * the cofactorless check that every backend makes. 2 ms, so here only, not
 * on the verify path.
 */
function ed25519KeyProblem(bytes: Uint8Array): string | null {
  const point = ed25519PublicPoint(bytes);
  if (typeof point === "string") return point;
  return point.isTorsionFree() ? null : "is not in the prime-order subgroup (a mixed-order point), which no Ed25519 key generation gives";
}

const PUBLIC_KEY_FORMS = "must be an Ed25519 public key: 32 bytes (Uint8Array or base64url), SPKI PEM, JWK, KeyObject or CryptoKey";

const publicKey = z.pipe(
  // A CryptoKey was exported to its bytes before parsing (an asynchronous step).
  z.custom<Ed25519PublicKeyInput | CryptoKey>((v) => v !== undefined && v !== null, PUBLIC_KEY_FORMS),
  z.transform((v, ctx) => {
    const bytes = ed25519PublicKey(v);
    if (!bytes || bytes.length !== ED25519_KEY_BYTES) return fail(ctx, { message: PUBLIC_KEY_FORMS });
    const problem = ed25519KeyProblem(bytes);
    if (problem) return fail(ctx, { message: problem, ...issueCode("INVALID_KEY") });
    return toBase64Url(bytes);
  }),
);

const signing = z.nullable(
  z.discriminatedUnion("alg", [
    z.strictObject({ alg: z.literal("ed25519"), publicKey }),
    z.strictObject({ alg: z.literal("hmac-sha256") }),
  ]),
);

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const METADATA_MAX_BYTES = 8192;
const METADATA_MAX_DEPTH = 8;

type Problem = { path: (string | number)[]; message: string; params?: { code: InputErrorCode; hint?: string } };

/**
 * Checks a metadata value: JSON only, no prototype keys, keys without
 * control or invisible characters, strings that every store can keep (no
 * U+0000, no lone surrogate), no token in a key or a string, bounded depth.
 * Returns the first problem.
 */
function metadataProblem(value: unknown, path: (string | number)[]): Problem | null {
  const at = (message: string, p = path): Problem => ({ path: p, message });
  if (path.length > METADATA_MAX_DEPTH) return at("nested too deeply");
  if (value === null || typeof value === "boolean") return null;
  if (typeof value === "string") {
    if (hasUnportableText(value)) return at("must not contain U+0000 or lone surrogates");
    return holdsToken(value) ? { path, ...tokenInText() } : null;
  }
  if (typeof value === "number") return Number.isFinite(value) ? null : at("must be a finite number");
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = metadataProblem(value[i], [...path, i]);
      if (p) return p;
    }
    return null;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return at("must be a plain object");
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key !== "string") return at("symbol keys are not allowed");
      if (FORBIDDEN_KEYS.has(key)) return at("key is not allowed", [...path, key]);
      if (hasUnsafeText(key)) return at(`key ${UNSAFE_TEXT_MESSAGE}`, [...path, key]);
      // Named by the object that holds it: the path is printed, and would hold the token.
      if (holdsToken(key)) return { path, ...tokenInText("key ") };
      const p = metadataProblem((value as Record<string, unknown>)[key], [...path, key]);
      if (p) return p;
    }
    return null;
  }
  return at("must be JSON (string, number, boolean, null, array or object)");
}

const metadata = z.pipe(
  z.custom<Record<string, JsonValue> | null>(() => true),
  z.transform((v, ctx) => {
    if (v === undefined || v === null) return {} as Record<string, JsonValue>;
    if (typeof v !== "object" || Array.isArray(v)) return fail(ctx, { message: "must be an object" });
    const problem = metadataProblem(v, []);
    if (problem) return fail(ctx, { message: problem.message, path: problem.path, params: problem.params });
    const json = JSON.stringify(v);
    if (json.length > METADATA_MAX_BYTES) return fail(ctx, { message: `must serialize to at most ${METADATA_MAX_BYTES} bytes` });
    // A fresh copy: the caller keeps no reference into what is stored.
    return JSON.parse(json) as Record<string, JsonValue>;
  }),
);

const policyFields = {
  scopes: scopeListSchema,
  domains,
  ips,
  credits,
  pools,
  rateLimit,
  rateLimits,
  expiresAt: z.nullable(timestamp),
  requireSignedRequests: z.boolean(),
};

/**
 * Input of `tokens.create`. Like every exported schema, a `zod/mini` one,
 * without the classic API's methods (`.extend`, `.omit`): build on it with
 * `zod/mini`'s functions (`z.extend(createTokenSchema, {…})`, `z` from
 * `zod/mini`: the classic `z` has no `extend`), or from its shape with either
 * API (`z.object({ ...createTokenSchema.shape, … })`). A parse of your own
 * gets English messages when the classic API is loaded (it sets them for
 * all of zod); with `zod/mini` alone, give it a locale
 * (`{ error: en().localeError }` from `zod/locales`).
 */
export const createTokenSchema = z.strictObject({
  owner: ownerSchema,
  kind: z.enum(["publishable", "secret"]),
  name: z.optional(text(256)),
  scopes: z.optional(policyFields.scopes),
  domains: z.optional(policyFields.domains),
  ips: z.optional(policyFields.ips),
  credits: z.optional(policyFields.credits),
  pools: z.optional(policyFields.pools),
  rateLimit: z.optional(policyFields.rateLimit),
  rateLimits: z.optional(policyFields.rateLimits),
  expiresAt: z.optional(policyFields.expiresAt),
  requireSignedRequests: z.optional(policyFields.requireSignedRequests),
  signing: z.optional(signing),
  metadata: z.optional(metadata),
});

/**
 * Where an import's stored text holds the very key it imports (the string
 * whose SHA-256 is `hash`): `start` (a short legacy key fits its 32
 * characters), `name`, `owner`, or a metadata key or string. Null when none
 * does. A legacy key has no shape to be refused by, as a keyward token is.
 */
function keyInText(data: { hash: string; owner: string; name?: string | undefined; start?: string | undefined; metadata?: Record<string, JsonValue> | undefined }): (string | number)[] | null {
  const isKey = (s: string) => sha256Hex(s) === data.hash;
  for (const field of ["start", "name", "owner"] as const) {
    const s = data[field];
    if (s !== undefined && isKey(s)) return [field];
  }
  const walk = (v: JsonValue, path: (string | number)[]): (string | number)[] | null => {
    if (typeof v === "string") return isKey(v) ? path : null;
    if (v === null || typeof v !== "object") return null;
    for (const [k, x] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
      // A key is named by the object that holds it: the path is printed.
      if (typeof k === "string" && isKey(k)) return path;
      const found = walk(x, [...path, k]);
      if (found) return found;
    }
    return null;
  };
  return data.metadata ? walk(data.metadata, ["metadata"]) : null;
}

/** Input of `tokens.import`: an existing key known only by the SHA-256 of its string. */
export const importTokenSchema = z
  .extend(createTokenSchema, {
    hash: z.pipe(
      z.string().check(z.regex(/^[0-9a-fA-F]{64}$/, "must be the SHA-256 of the key as 64 hex characters")),
      z.transform((s) => s.toLowerCase()),
    ),
    start: z.optional(text(32)),
    env: z.optional(z.enum(["live", "test"])),
    signing: z.optional(z.null()),
  })
  .check(
    z.superRefine((data, ctx) => {
      const path = keyInText(data);
      if (path) {
        ctx.addIssue({
          code: "custom",
          path,
          message: "is the key being imported, which keyward never stores in the clear",
          ...issueCode("INVALID_INPUT", path[0] === "start" ? "give only its first characters, e.g. the prefix and 4 more" : undefined),
        });
      }
    }),
  );

/** Input of `tokens.update`: any subset of the mutable fields (all but owner and kind), at least one. */
export const updateTokenSchema = z
  .omit(createTokenSchema, { owner: true, kind: true })
  .check(z.refine((p) => Object.values(p).some((v) => v !== undefined), "must change at least one field (a field given as undefined changes nothing)"));


/** The names of the policy fields, which updates can schedule with an effective time. */
export const POLICY_FIELDS = Object.keys(policyFields) as (keyof typeof policyFields)[];

const ERROR_CLASSES: Record<InputErrorCode, typeof InvalidInputError> = {
  INVALID_INPUT: InvalidInputError,
  INVALID_KEY: InvalidKeyError,
  SIGNING_MISSING: SigningMissingError,
  DOMAINS_ON_SECRET: DomainsOnSecretError,
  TIME_IN_SECONDS: TimeInSecondsError,
  LIFETIME_EXCEEDED: LifetimeExceededError,
  LAST_OWNER: LastOwnerError,
};

/**
 * Parses `input` with `schema` or throws an {@link InvalidInputError} (or
 * the subclass an issue names) for the first offending field. Values are
 * never echoed: an unknown key is named as the field, which the error
 * redacts and escapes like every field. A field given as `undefined` is
 * left out of the result, as absent: a patch then changes, and an audit
 * entry names, only the fields given a value.
 */
export function parseInput<S extends z.ZodMiniType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input, ENGLISH);
  if (r.success) return withoutUndefined(r.data);
  const issue = r.error.issues[0];
  if (!issue) throw new InvalidInputError(what, "invalid input");
  const unknownKey = issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
  const path = unknownKey === undefined ? issue.path : [...issue.path, unknownKey];
  const field = path.length ? path.map(String).join(".") : what;
  if (unknownKey !== undefined) throw new InvalidInputError(field, "unknown field");
  const params = issue.code === "custom" ? (issue.params as { code?: InputErrorCode; hint?: string } | undefined) : undefined;
  throw new (ERROR_CLASSES[params?.code ?? "INVALID_INPUT"])(field, issue.message, { hint: params?.hint });
}

/**
 * Checks a method's options: an object with no field but `known`. A
 * misspelt field (`effectivAt`, `expectedrole`, `idempotency_key`) would
 * turn off what it asks for (a cutover, a compare-and-set, a retry's
 * protection) without a word: refused, named in the message (cleaned like
 * every message), never echoed whole.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` on `options`
 */
export function checkOptionFields(options: unknown, known: readonly string[]): void {
  if (typeof options !== "object" || options === null) throw new InvalidInputError("options", "must be an object");
  const unknown = Object.keys(options).find((k) => !known.includes(k));
  if (unknown !== undefined) {
    throw new InvalidInputError("options", `has an unknown field (${JSON.stringify(unknown.slice(0, 40))}): ${known.join(", ")} are known`);
  }
}

/** A parsed object without its `undefined` fields (the object itself when it has none). */
function withoutUndefined<T>(data: T): T {
  if (data === null || typeof data !== "object" || Array.isArray(data) || !Object.values(data).includes(undefined)) return data;
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The guardrails that look at several fields at once (a schema issue sees
 * one): `requireSignedRequests` without `signing`, and allowed domains on a
 * secret token, make a token that no request can use; two rate limits of one
 * window (`rateLimit` and one of `rateLimits`) would share a counter. Only what the call
 * sets is judged, so data stored before these rules can still be changed.
 *
 * @param token the token's kind, its signing and every policy it will have after the call
 * @param set the fields the call sets
 * @param allowSecretInBrowser the instance accepts secret tokens from browsers
 * @throws {SigningMissingError} `SIGNING_MISSING`
 * @throws {DomainsOnSecretError} `DOMAINS_ON_SECRET`
 * @throws {InvalidInputError} `INVALID_INPUT` on `rateLimits.<i>.windowMs` for a window that `rateLimit` has
 */
export function checkPolicyConsistency(
  token: {
    kind: "publishable" | "secret";
    signing: unknown;
    policies: readonly { requireSignedRequests: boolean; rateLimit?: RateLimitPolicy | null; rateLimits?: readonly RateLimitPolicy[] | undefined }[];
  },
  set: {
    domains?: readonly string[] | undefined;
    requireSignedRequests?: boolean | undefined;
    signing?: unknown;
    rateLimit?: unknown;
    rateLimits?: unknown;
  },
  allowSecretInBrowser: boolean,
): void {
  if (set.rateLimit != null || set.rateLimits != null) {
    for (const p of token.policies) {
      const i = p.rateLimit ? (p.rateLimits ?? []).findIndex((l) => l.windowMs === p.rateLimit!.windowMs) : -1;
      if (i >= 0) throw new InvalidInputError(`rateLimits.${i}.windowMs`, "must differ from the window of rateLimit");
    }
  }
  const signingTouched = set.requireSignedRequests === true || set.signing !== undefined;
  if (signingTouched && token.signing == null && token.policies.some((p) => p.requireSignedRequests)) {
    throw new SigningMissingError("requireSignedRequests", "the token has no signing key, so every request would be denied", {
      hint: 'set signing: { alg: "ed25519", publicKey } (recommended) or { alg: "hmac-sha256" } at creation',
    });
  }
  if (set.domains?.length && token.kind === "secret" && !allowSecretInBrowser) {
    throw new DomainsOnSecretError("domains", "secret tokens are refused from browsers, so no request could match allowed domains", {
      hint: "use a publishable token for browsers; bind servers with ips or signed requests",
    });
  }
}
