// zod schemas of the admin API's inputs. Parsed once per admin call, never on
// the request path. Every failure becomes an InvalidInputError naming the field.
import { z } from "zod";
import { InvalidInputError } from "../errors.js";
import { toBase64Url } from "../lib/bytes.js";
import { parseDomainPattern } from "../policy/domain.js";
import { parseCidr } from "../policy/ip.js";
import { parseScope } from "../policy/scope.js";
import { type Ed25519PublicKeyInput, ed25519PublicKey } from "../signing/key-formats.js";
import type { JsonValue } from "./types.js";

/** Control characters, and invisible or bidi-reordering ones that can disguise a name in a console. */
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;

const text = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !UNSAFE_TEXT.test(s), "must not contain control or invisible characters");

const owner = text(256).min(1, "must not be empty");

/** Epoch milliseconds as a number or a Date, within the range of a JS Date. */
const timestamp = z
  .union([z.number(), z.date()])
  .transform((v) => (v instanceof Date ? v.getTime() : v))
  .refine((v) => Number.isSafeInteger(v) && v >= 0 && v <= 8.64e15, "must be a valid time (epoch ms or Date)");

const count = (min: number) => z.number().int().min(min).max(Number.MAX_SAFE_INTEGER);

const scopes = z
  .array(z.string().refine((s) => parseScope(s) !== null, "invalid scope (expected resource[/name…]:action)"))
  .max(256, "at most 256 scopes");

const domains = z
  .array(z.string().refine((s) => parseDomainPattern(s) !== null, "invalid domain pattern"))
  .max(256, "at most 256 domains");

const ips = z
  .array(z.string().refine((s) => parseCidr(s) !== null, "invalid IP address or CIDR"))
  .max(1024, "at most 1024 IP ranges");

const credits = z
  .strictObject({
    limit: count(0),
    refill: z
      .strictObject({ amount: count(1), intervalMs: count(1000) })
      .nullish()
      .transform((v) => v ?? null),
  })
  .nullable();

const rateLimit = z.strictObject({ limit: count(1), windowMs: count(1).max(31 * 86_400_000) }).nullable();

const ED25519_KEY_BYTES = 32;

const publicKey = z
  .custom<Ed25519PublicKeyInput>((v) => v !== undefined && v !== null)
  .transform((v, ctx) => {
    const bytes = ed25519PublicKey(v);
    if (!bytes || bytes.length !== ED25519_KEY_BYTES) {
      ctx.addIssue({ code: "custom", message: "must be an Ed25519 public key: 32 bytes (Uint8Array or base64url), SPKI PEM, JWK or KeyObject" });
      return z.NEVER;
    }
    return toBase64Url(bytes);
  });

const signing = z
  .discriminatedUnion("alg", [
    z.strictObject({ alg: z.literal("ed25519"), publicKey }),
    z.strictObject({ alg: z.literal("hmac-sha256") }),
  ])
  .nullable();

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const METADATA_MAX_BYTES = 8192;
const METADATA_MAX_DEPTH = 8;

/** Checks a metadata value: JSON only, no prototype keys, bounded depth. Returns the path of the first problem. */
function metadataProblem(value: unknown, path: string, depth: number): string | null {
  if (depth > METADATA_MAX_DEPTH) return `${path}: nested too deeply`;
  if (value === null || typeof value === "string" || typeof value === "boolean") return null;
  if (typeof value === "number") return Number.isFinite(value) ? null : `${path}: must be a finite number`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = metadataProblem(value[i], `${path}.${i}`, depth + 1);
      if (p) return p;
    }
    return null;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return `${path}: must be a plain object`;
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key !== "string") return `${path}: symbol keys are not allowed`;
      if (FORBIDDEN_KEYS.has(key)) return `${path}.${key}: key is not allowed`;
      const p = metadataProblem((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
      if (p) return p;
    }
    return null;
  }
  return `${path}: must be JSON (string, number, boolean, null, array or object)`;
}

const metadata = z.unknown().transform((v, ctx) => {
  if (v === undefined || v === null) return {} as Record<string, JsonValue>;
  if (typeof v !== "object" || Array.isArray(v)) {
    ctx.addIssue({ code: "custom", message: "must be an object" });
    return z.NEVER;
  }
  const problem = metadataProblem(v, "metadata", 0);
  if (problem) {
    ctx.addIssue({ code: "custom", message: problem.replace(/^metadata[.:]?\s*/, "") });
    return z.NEVER;
  }
  const json = JSON.stringify(v);
  if (json.length > METADATA_MAX_BYTES) {
    ctx.addIssue({ code: "custom", message: `must serialize to at most ${METADATA_MAX_BYTES} bytes` });
    return z.NEVER;
  }
  // A fresh copy: the caller keeps no reference into what is stored.
  return JSON.parse(json) as Record<string, JsonValue>;
});

const policyFields = {
  scopes,
  domains,
  ips,
  credits,
  rateLimit,
  expiresAt: timestamp.nullable(),
  requireSignedRequests: z.boolean(),
};

/** Input of `tokens.create`. */
export const createTokenSchema = z.strictObject({
  owner,
  kind: z.enum(["publishable", "secret"]),
  name: text(256).optional(),
  scopes: policyFields.scopes.optional(),
  domains: policyFields.domains.optional(),
  ips: policyFields.ips.optional(),
  credits: policyFields.credits.optional(),
  rateLimit: policyFields.rateLimit.optional(),
  expiresAt: policyFields.expiresAt.optional(),
  requireSignedRequests: policyFields.requireSignedRequests.optional(),
  signing: signing.optional(),
  metadata: metadata.optional(),
});

/** Input of `tokens.import`: an existing key known only by the SHA-256 of its string. */
export const importTokenSchema = createTokenSchema.extend({
  hash: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, "must be the SHA-256 of the key as 64 hex characters")
    .transform((s) => s.toLowerCase()),
  start: text(32).optional(),
  env: z.enum(["live", "test"]).optional(),
  signing: z.null().optional(),
});

/** Input of `tokens.update`: any subset of the mutable fields (all but owner and kind), at least one. */
export const updateTokenSchema = createTokenSchema
  .omit({ owner: true, kind: true })
  .refine((p) => Object.values(p).some((v) => v !== undefined), "patch must change at least one field");

export type CreateTokenInput = z.input<typeof createTokenSchema>;
export type ImportTokenInput = z.input<typeof importTokenSchema>;
export type UpdateTokenInput = z.input<typeof updateTokenSchema>;

/** The names of the policy fields, which updates can schedule with an effective time. */
export const POLICY_FIELDS = Object.keys(policyFields) as (keyof typeof policyFields)[];

/**
 * Parses `input` with `schema` or throws an {@link InvalidInputError} naming
 * the first offending field. Values are never echoed in the message.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.length ? issue.path.map(String).join(".") : what;
  throw new InvalidInputError(field, issue?.message ?? "invalid input");
}
