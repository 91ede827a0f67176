// The admin API's request bodies, built from the zod schemas that validate
// `kw.tokens.*` input (src/model/schemas.ts), and the shapes of its answers.
// The OpenAPI document is generated from both (openapi.ts). The answers'
// enumerations come from the lists the code uses (audit actions, roles, the
// role matrix); test/types/admin-answers.test.ts checks each answer schema
// against its TypeScript type, and test/admin/openapi.test.ts every route's
// real answers against the served document.
import * as z from "zod/mini";
import { integer } from "../lib/zod.js";
import { type AccountAction, ROLE_MATRIX, ROLES } from "../model/roles.js";
import { createTokenSchema, timestamp } from "../model/schemas.js";
import { AUDIT_ACTIONS, type JsonValue } from "../model/types.js";
import { PROBLEM_CODES } from "./problem.js";

const MAX_GRACE_MS = 30 * 86_400_000;
const revision = integer(1, Number.MAX_SAFE_INTEGER);

/**
 * What a customer may set on a token: every setting but the owner (the one
 * `authorize` returned) and the rate limits (`rateLimit`, `rateLimits`: the
 * operator's, set with `kw.tokens` or the CLI). Credits and named pools may
 * be set, as limits of the customer's own tokens. An unknown field, these
 * three included, is refused.
 */
const settings = z.omit(createTokenSchema, { owner: true, rateLimit: true, rateLimits: true });

/** `POST /tokens`. */
export const createBodySchema = settings;

/** `PATCH /tokens/{id}`: the changes, the revision they apply to, and when the policy fields take effect. */
export const updateBodySchema = z.strictObject({
  expectedRevision: revision,
  effectiveAt: z.optional(timestamp),
  patch: z.omit(settings, { kind: true }),
});

/** `POST /tokens/{id}/regenerate`. */
export const regenerateBodySchema = z.strictObject({
  expectedRevision: z.optional(revision),
  graceMs: z.optional(integer(0, MAX_GRACE_MS)),
});

/** `POST /tokens/{id}/revoke`. */
export const revokeBodySchema = z.strictObject({});

const epochMs = z.int();
const creditsOut = z.object({
  limit: z.int(),
  refill: z.nullable(z.object({ amount: z.int(), intervalMs: z.int() })),
  reset: z.optional(z.nullable(z.enum(["day", "month"]))),
});
const role = z.enum(ROLES);
const rateLimitOut = z.object({ limit: z.int(), windowMs: z.int() });
const policySchema = z.object({
  scopes: z.array(z.string()),
  domains: z.array(z.string()),
  ips: z.array(z.string()),
  credits: z.nullable(creditsOut),
  pools: z.optional(z.record(z.string(), creditsOut)),
  rateLimit: z.nullable(rateLimitOut),
  rateLimits: z.optional(z.array(rateLimitOut)),
  expiresAt: z.nullable(epochMs),
  requireSignedRequests: z.boolean(),
});

/** A token as the API answers it: never its secret or hash. Times are epoch milliseconds. */
export const tokenRecordSchema = z.object({
  id: z.string(),
  start: z.string(),
  kind: z.enum(["publishable", "secret"]),
  env: z.enum(["live", "test"]),
  owner: z.string(),
  name: z.string(),
  metadata: z.custom<Record<string, JsonValue>>(),
  policy: policySchema,
  scheduled: z.array(z.object({ effectiveAt: epochMs, policy: policySchema })),
  signing: z.nullable(z.union([z.object({ alg: z.literal("ed25519"), publicKey: z.string() }), z.object({ alg: z.literal("hmac-sha256") })])),
  graceUntil: z.nullable(epochMs),
  createdAt: epochMs,
  updatedAt: epochMs,
  revokedAt: z.nullable(epochMs),
  disabledAt: z.nullable(epochMs),
  revision: z.int(),
});

/** A new or regenerated token: the only answer that holds the token string. */
export const issuedTokenSchema = z.object({ token: z.string(), record: tokenRecordSchema });

/** A create sent again under its `Idempotency-Key`: the token made the first time, as it is now, without the token string. */
export const replayedTokenSchema = z.object({ token: z.null(), replayed: z.literal(true), record: tokenRecordSchema });

const page = <T extends z.ZodMiniType>(item: T) => z.object({ items: z.array(item), nextCursor: z.nullable(z.string()) });

export const tokenPageSchema = page(tokenRecordSchema);

export const auditEntrySchema = z.object({
  id: z.string(),
  at: epochMs,
  actor: z.string(),
  role: z.optional(role),
  action: z.enum(AUDIT_ACTIONS),
  tokenId: z.string(),
  owner: z.string(),
  changes: z.array(z.string()),
  effectiveAt: z.optional(epochMs),
  graceUntil: z.optional(epochMs),
  amount: z.optional(z.number()),
  /** A `members` change: whose role, and the role after it (null: removed); entries written before have the text only. */
  member: z.optional(z.string()),
  memberRole: z.optional(z.nullable(role)),
});

export const auditPageSchema = page(auditEntrySchema);

export const usageSchema = z.object({
  granularity: z.enum(["hour", "day"]),
  buckets: z.array(z.object({ start: epochMs, allowed: z.int(), denied: z.int(), credits: z.int() })),
});

/** `DELETE /tokens/{id}`: what was removed. */
export const deletedTokenSchema = z.object({
  id: z.string(),
  owner: z.string(),
  removed: z.object({ hashes: z.int(), credits: z.int(), rateLimits: z.int(), nonces: z.int(), usage: z.int() }),
});

export const memberBodySchema = z.strictObject({ role });

export const membersSchema = z.object({ members: z.array(z.object({ id: z.string(), role })) });

/** `GET /config`: who the caller manages tokens for, and what the console may offer. */
export const consoleConfigSchema = z.object({
  owner: z.string(),
  actor: z.string(),
  role,
  /** The account is suspended: its tokens are denied every request, and only reads and taking access away are accepted. */
  suspended: z.boolean(),
  /** When the suspension in force began; null when the account is not suspended, or was suspended before keyward kept the time. */
  suspendedSince: z.nullable(epochMs),
  actions: z.array(z.enum(Object.keys(ROLE_MATRIX) as AccountAction[])),
  grantableScopes: z.array(z.string()),
  datasets: z.array(z.string()),
  maxGraceMs: z.int(),
});

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  code: z.enum(PROBLEM_CODES),
  field: z.optional(z.string()),
});

export { MAX_GRACE_MS };
