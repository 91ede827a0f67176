// The OpenAPI 3.1 document of the admin API (OpenAPI 3.1 §4.8: schemas are
// JSON Schema 2020-12), generated from the zod schemas that validate its
// input with zod's own `z.toJSONSchema`, read as input (`io: "input"`: what a
// client sends, before transforms).
import * as z from "zod/mini";
import type { AdminConfig } from "./options.js";
import {
  auditPageSchema,
  consoleConfigSchema,
  createBodySchema,
  deletedTokenSchema,
  issuedTokenSchema,
  memberBodySchema,
  membersSchema,
  problemSchema,
  regenerateBodySchema,
  replayedTokenSchema,
  revokeBodySchema,
  tokenPageSchema,
  tokenRecordSchema,
  updateBodySchema,
  usageSchema,
} from "./schemas.js";

type JsonSchema = Record<string, unknown>;

/**
 * What JSON Schema cannot say of a zod type, said by hand: a `Date` (which
 * JSON cannot carry: the ISO-8601 string form is the one to send), an
 * ed25519 public key, and metadata (a JSON object checked by code).
 */
function describe(ctx: { zodSchema: z.core.$ZodTypes; jsonSchema: JsonSchema; path: (string | number)[] }): void {
  const type = ctx.zodSchema._zod.def.type;
  const js = ctx.jsonSchema;
  if (type !== "custom") return;
  // `z.instanceof(Date)` (a custom type, which zod leaves as `{}`: any value at all) in the times of `timestamp`.
  if ((ctx.zodSchema._zod as { bag?: { Class?: unknown } }).bag?.Class === Date) {
    Object.assign(js, { type: "string", format: "date-time" });
    return;
  }
  const last = ctx.path.filter((p) => p !== "properties").at(-1);
  if (last === "publicKey") {
    Object.assign(js, { type: ["string", "object"], description: "Ed25519 public key: 32 bytes in base64url or base64, SPKI PEM, or a JWK; a private key (a JWK with d, a PRIVATE KEY PEM) is refused" });
  } else if (last === "metadata") {
    Object.assign(js, { type: ["object", "null"], description: "JSON object, at most 8 KiB serialised and 8 levels deep" });
  }
}

const toSchema = (schema: z.ZodMiniType): JsonSchema => {
  const { $schema: _, ...out } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", override: describe }) as JsonSchema;
  return out;
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const body = (name: string) => ({ required: true, content: { "application/json": { schema: ref(name) } } });
const ok = (name: string, description: string, status = "200") => ({ [status]: { description, content: { "application/json": { schema: ref(name) } } } });
/** The problem answers of an operation: `statuses`, and the server's own failures (500, 503) that any may answer. */
const problems = (...statuses: number[]) =>
  Object.fromEntries([...statuses, 500, 503].map((s) => [String(s), { $ref: `#/components/responses/Problem${s}` }]));
const idParam = { name: "id", in: "path", required: true, schema: { type: "string", pattern: "^tok_[0-9A-Za-z]{22}$" } };
const pageParams = [
  { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
  { name: "cursor", in: "query", schema: { type: "string" } },
];
/**
 * The path items, each saying what a method it does not list gets: 405 with
 * `Allow`. OpenAPI lists answers by operation, and a method a path does not
 * take is no operation, so the path item's description says it.
 */
const withOtherMethods = (paths: Record<string, JsonSchema>) =>
  Object.fromEntries(
    Object.entries(paths).map(([path, item]) => [
      path,
      { description: "A method not listed here is answered 405 METHOD_NOT_ALLOWED (#/components/responses/Problem405), with `Allow` naming the ones listed, and HEAD wherever GET is (answered as GET, without a body).", ...item },
    ]),
  );
const READ = [401, 403, 404];
const WRITE = [400, 401, 403, 404, 408, 409, 413, 415];

/** The OpenAPI 3.1 document of a handler's API. */
export function openApiDocument(cfg: Pick<AdminConfig, "basePath" | "title">): JsonSchema {
  const statusText: Record<number, string> = {
    400: "Invalid input or malformed JSON",
    401: "Not signed in",
    403: "Not allowed (your role, a scope you may not grant, a cross-site request, a change while the account is suspended)",
    404: "No such token among yours, or nothing at this path (a member id that is not valid percent-encoding)",
    405: "The path does not take this method: `Allow` names the ones it takes",
    408: "The body did not arrive within `bodyTimeoutMs`",
    409: "Stale revision (of the token, or of the member's role), or the token is revoked; on a create, IDEMPOTENCY_KEY_IN_FLIGHT: a request with its Idempotency-Key is still being processed (retry after `Retry-After`)",
    413: "Body too large",
    422: "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used for another request; send this one with a new key",
    415: "Not application/json, or compressed (a Content-Encoding other than identity: `Accept-Encoding: identity` says so)",
    500: "Internal error (nothing about the cause), or BODY_ALREADY_READ: the server read the body before the handler (a body parser mounted ahead of it); nothing was done",
    501: "The server's store lacks the feature (STORE_UNSUPPORTED): deleting tokens, accounts and their members, or Idempotency-Key",
    503: "The token store is unavailable, or it or the sign-in check did not answer within `storeTimeoutMs`: retry after `Retry-After` (after a change the store did not answer, reload first: it may still have been made)",
  };
  return {
    openapi: "3.1.1",
    info: {
      title: cfg.title,
      version: "1",
      description:
        "Your own API tokens. Every change is a JSON request (application/json); errors are RFC 9457 problem+json. Times are epoch milliseconds; inputs also accept ISO-8601 strings. A method a path does not list is answered 405 METHOD_NOT_ALLOWED, with `Allow`; HEAD is answered wherever GET is, as GET without a body.",
    },
    servers: [{ url: cfg.basePath === "" ? "/" : cfg.basePath }],
    paths: withOtherMethods({
      "/config": { get: { operationId: "config", summary: "Who you are and what you may grant", responses: { ...ok("ConsoleConfig", "Settings"), ...problems(401, 403) } } },
      "/tokens": {
        get: { operationId: "tokens.list", summary: "Your tokens, oldest first", parameters: pageParams, responses: { ...ok("TokenPage", "A page"), ...problems(400, 401, 403) } },
        post: {
          operationId: "tokens.create",
          summary: "Create a token: the token string is in this answer only",
          parameters: [
            {
              name: "Idempotency-Key",
              in: "header",
              // The longest: 255 characters, each escaped (\" or \\) in a quoted string: 512.
              schema: { type: "string", minLength: 1, maxLength: 512 },
              description:
                "Makes the request safe to send again (draft-ietf-httpapi-idempotency-key-header): 1 to 255 printable ASCII characters, as a quoted string (\"8e03978e-40d5-43e8-bc93-6894a57f9324\") or bare. Kept for you (and you alone) for 24 hours by default. The same request under it again answers 200 with `Idempotent-Replayed: true` and the token made the first time, without the token string: keep the first answer; if it was lost, revoke that token and create another with a new key. Another request under it: 422; while the first is still being processed: 409.",
            },
          ],
          requestBody: body("CreateTokenBody"),
          responses: {
            ...ok("IssuedToken", "Created", "201"),
            "200": {
              description: "Sent again under its Idempotency-Key: the token made the first time, as it is now, never the token string",
              headers: { "Idempotent-Replayed": { description: "Always `true`", schema: { const: "true" } } },
              content: { "application/json": { schema: ref("ReplayedToken") } },
            },
            ...problems(400, 401, 403, 404, 408, 409, 413, 415, 422, 501),
          },
        },
      },
      "/tokens/{id}": {
        parameters: [idParam],
        get: { operationId: "tokens.get", summary: "A token", responses: { ...ok("TokenRecord", "The token"), ...problems(...READ) } },
        patch: {
          operationId: "tokens.update",
          summary: "Change a token at `expectedRevision`; policy changes take effect at `effectiveAt`",
          requestBody: body("UpdateTokenBody"),
          responses: { ...ok("TokenRecord", "Updated"), ...problems(...WRITE) },
        },
        delete: {
          operationId: "tokens.delete",
          summary: "Delete a token for good: record, counters and usage (owners only; the audit log stays)",
          responses: { ...ok("DeletedToken", "What was removed"), ...problems(400, ...READ, 501) },
        },
      },
      "/tokens/{id}/regenerate": {
        parameters: [idParam],
        post: {
          operationId: "tokens.regenerate",
          summary: "A new token string for the same token; the old one works for `graceMs` more",
          requestBody: body("RegenerateTokenBody"),
          responses: { ...ok("IssuedToken", "Regenerated"), ...problems(...WRITE) },
        },
      },
      "/tokens/{id}/revoke": {
        parameters: [idParam],
        post: { operationId: "tokens.revoke", summary: "Revoke a token, at once", requestBody: body("RevokeTokenBody"), responses: { ...ok("TokenRecord", "Revoked"), ...problems(...WRITE) } },
      },
      "/tokens/{id}/disable": {
        parameters: [idParam],
        post: { operationId: "tokens.disable", summary: "Disable a token: denied TOKEN_DISABLED until enabled", requestBody: body("RevokeTokenBody"), responses: { ...ok("TokenRecord", "Disabled"), ...problems(...WRITE) } },
      },
      "/tokens/{id}/enable": {
        parameters: [idParam],
        post: { operationId: "tokens.enable", summary: "Enable a disabled token again", requestBody: body("RevokeTokenBody"), responses: { ...ok("TokenRecord", "Enabled"), ...problems(...WRITE) } },
      },
      "/tokens/{id}/usage": {
        parameters: [idParam],
        get: {
          operationId: "tokens.usage",
          summary: "Requests and credits per hour or day",
          parameters: [
            { name: "from", in: "query", schema: { type: "string" }, description: "Epoch ms or ISO-8601; default a day before `to`" },
            { name: "to", in: "query", schema: { type: "string" }, description: "Epoch ms or ISO-8601; default now" },
            { name: "granularity", in: "query", schema: { enum: ["hour", "day"], default: "hour" } },
          ],
          responses: { ...ok("Usage", "Usage buckets"), ...problems(400, ...READ) },
        },
      },
      "/tokens/{id}/audit": {
        parameters: [idParam],
        get: { operationId: "tokens.audit", summary: "What was done to a token", parameters: pageParams, responses: { ...ok("AuditPage", "A page"), ...problems(400, ...READ) } },
      },
      "/audit": { get: { operationId: "audit", summary: "What was done to your tokens", parameters: pageParams, responses: { ...ok("AuditPage", "A page"), ...problems(400, 401, 403) } } },
      "/members": { get: { operationId: "members.list", summary: "Your account's members and their roles", responses: { ...ok("Members", "The members"), ...problems(400, 401, 403, 501) } } },
      "/members/{member}": {
        parameters: [{ name: "member", in: "path", required: true, schema: { type: "string" }, description: "The member's id (percent-encoded)" }],
        put: {
          operationId: "members.set",
          summary: "Add a member or change their role (owners only make or unmake owners)",
          requestBody: body("MemberBody"),
          responses: { ...ok("Members", "The members after the change"), ...problems(400, 401, 403, 404, 408, 409, 413, 415, 501) },
        },
        delete: {
          operationId: "members.remove",
          summary: "Remove a member (never the last owner)",
          responses: { ...ok("Members", "The members after the change"), ...problems(400, 401, 403, 404, 409, 501) },
        },
      },
    }),
    components: {
      schemas: {
        CreateTokenBody: toSchema(createBodySchema),
        UpdateTokenBody: toSchema(updateBodySchema),
        RegenerateTokenBody: toSchema(regenerateBodySchema),
        RevokeTokenBody: toSchema(revokeBodySchema),
        TokenRecord: toSchema(tokenRecordSchema),
        IssuedToken: toSchema(issuedTokenSchema),
        ReplayedToken: toSchema(replayedTokenSchema),
        TokenPage: toSchema(tokenPageSchema),
        AuditPage: toSchema(auditPageSchema),
        Usage: toSchema(usageSchema),
        ConsoleConfig: toSchema(consoleConfigSchema),
        MemberBody: toSchema(memberBodySchema),
        Members: toSchema(membersSchema),
        DeletedToken: toSchema(deletedTokenSchema),
        Problem: toSchema(problemSchema),
      },
      responses: Object.fromEntries(
        Object.entries(statusText).map(([s, description]) => [
          `Problem${s}`,
          {
            description,
            ...(s === "405" && { headers: { Allow: { description: "The methods the path takes, HEAD wherever GET is, e.g. `GET, HEAD, POST`", schema: { type: "string" } } } }),
            content: { "application/problem+json": { schema: ref("Problem") } },
          },
        ]),
      ),
    },
  };
}
