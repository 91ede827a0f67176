// RFC 9457 problem details of the admin API: one type URI per code (as the
// request path's denials, under the same `problemTypeBase`), fixed titles,
// and a detail that is either fixed or a KeywardError's message, which is
// already bounded, escaped and redacted (src/errors.ts). Answers are JSON,
// never HTML, and carry `nosniff`, so nothing in them is ever rendered.
import { type ErrorCode, isKeywardError, type KeywardError, type ScopeNotAllowedError } from "../errors.js";
import { DEFAULT_PROBLEM_TYPE_BASE, PROBLEM_JSON } from "../http/problem.js";

/**
 * Codes of the admin API's own answers, on top of the {@link KeywardError}
 * codes it passes on: the one table that {@link AdminProblemCode} and the
 * OpenAPI document's enum of `code` are made from.
 */
export const ADMIN_CODES = [
  "UNAUTHORIZED",
  "FORBIDDEN",
  "ROLE_FORBIDDEN",
  "CROSS_SITE_REQUEST",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "UNSUPPORTED_MEDIA_TYPE",
  "BODY_TOO_LARGE",
  "BODY_TIMEOUT",
  "MALFORMED_JSON",
  // The client closed the request before its body was in (499): recorded for logs, received by no one.
  "CLIENT_CLOSED_REQUEST",
  // The server read the body before the handler (a body parser mounted ahead of it): 500, nothing done.
  "BODY_ALREADY_READ",
  "SCOPE_NOT_GRANTABLE",
  // The account is suspended by the operator: a change other than taking access away is refused.
  "ACCOUNT_SUSPENDED",
  // An Idempotency-Key that is not 1 to 255 printable ASCII characters (bare, or as a structured-field string).
  "INVALID_IDEMPOTENCY_KEY",
  "INTERNAL_ERROR",
] as const;

/** Codes of the admin API's own answers, on top of the {@link KeywardError} codes it passes on. */
export type AdminProblemCode = (typeof ADMIN_CODES)[number];

/** The KeywardError codes answered as they are (fromKeywardError); the other two are the server's configuration, INTERNAL_ERROR. */
const PASSED_ON = {
  INVALID_INPUT: 1,
  INVALID_KEY: 1,
  SIGNING_MISSING: 1,
  DOMAINS_ON_SECRET: 1,
  TIME_IN_SECONDS: 1,
  LIFETIME_EXCEEDED: 1,
  LAST_OWNER: 1,
  TOKEN_NOT_FOUND: 1,
  TOKEN_ALREADY_EXISTS: 1,
  TOKEN_REVOKED: 1,
  REVISION_CONFLICT: 1,
  SCOPE_NOT_ALLOWED: 1,
  SEALING_KEY_REQUIRED: 1,
  STORE_UNAVAILABLE: 1,
  STORE_UNSUPPORTED: 1,
  ACCOUNT_NOT_FOUND: 1,
  IDEMPOTENCY_KEY_REUSED: 1,
  IDEMPOTENCY_KEY_IN_FLIGHT: 1,
} satisfies Record<Exclude<ErrorCode, "INVALID_CONFIG" | "SEALING_KEY_UNKNOWN">, 1>;

/** Every code an admin answer can carry. */
export const PROBLEM_CODES = [...ADMIN_CODES, ...(Object.keys(PASSED_ON) as (keyof typeof PASSED_ON)[])];

/** The problem+json body of an admin answer. */
export interface AdminProblem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** A stable code: an {@link AdminProblemCode} or a `KeywardError` code. */
  code: string;
  /** For input errors: the offending field's path, e.g. `credits.limit`. */
  field?: string;
}

/**
 * Headers of every JSON answer: never cached (records and secrets), never
 * sniffed as HTML, and never loaded into another origin's page: a
 * `<script>` or `<img>` there (sent with the customer's cookies) is
 * refused the answer, whose bytes never reach that page's process.
 */
export const JSON_HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff", "cross-origin-resource-policy": "same-origin" } as const;

const kebab = (code: string) => code.toLowerCase().replace(/_/g, "-");

/** An error answer the handler throws to its own top level. */
export class AdminAnswer extends Error {
  constructor(
    readonly status: number,
    /** Typed, so that the handler answers no code {@link AdminProblemCode} does not list. */
    readonly code: AdminProblemCode | ErrorCode,
    readonly title: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    readonly field?: string,
  ) {
    super(title);
  }
}

/** A KeywardError as an answer: its status, its code, its (clean) message and field. */
function fromKeywardError(err: KeywardError): AdminAnswer {
  const { field } = err as { field?: unknown };
  switch (err.code) {
    case "TOKEN_NOT_FOUND":
      // The same answer for an unknown id and another owner's: nothing to probe.
      return new AdminAnswer(404, "TOKEN_NOT_FOUND", "Token not found", "No token with this id belongs to you.");
    case "TOKEN_REVOKED":
      return new AdminAnswer(409, "TOKEN_REVOKED", "Token revoked", "A revoked token cannot be changed or regenerated.");
    case "REVISION_CONFLICT":
      return new AdminAnswer(409, "REVISION_CONFLICT", "Revision conflict", "The token was changed since you read it: reload it and apply your change again.");
    case "TOKEN_ALREADY_EXISTS":
      return new AdminAnswer(409, err.code, "Token exists", err.message);
    case "STORE_UNAVAILABLE":
      return new AdminAnswer(503, err.code, "Service unavailable", "The token store is unavailable; retry later.", { "retry-after": "1" });
    case "IDEMPOTENCY_KEY_REUSED":
      // draft-ietf-httpapi-idempotency-key-header §2.7: a key reused with another payload is 422.
      return new AdminAnswer(422, err.code, "Idempotency key reused", "This Idempotency-Key was used for another request: send this one with a new key.");
    case "IDEMPOTENCY_KEY_IN_FLIGHT":
      // §2.7: the first request under the key is still being processed: 409.
      return new AdminAnswer(409, err.code, "Request in progress", "A request with this Idempotency-Key is still being processed: retry shortly.", { "retry-after": "1" });
    case "STORE_UNSUPPORTED":
      // The server's missing capability, not the client's mistake: the message names the feature.
      return new AdminAnswer(501, err.code, "Not supported", err.message);
    case "SEALING_KEY_REQUIRED":
      // The server's choice, which its customer cannot change: what they can choose instead, not how to configure it.
      return new AdminAnswer(400, err.code, "Invalid request", "This server does not offer HMAC-SHA256 signing: sign with Ed25519.", {}, "signing.alg");
    case "SCOPE_NOT_ALLOWED":
      // Said to the customer, who cannot change the server's options (the message names allowPublishableWrites) and
      // was not told which scope their plan's ceiling left out: the scope, and both rules it may break.
      return new AdminAnswer(
        400,
        err.code,
        "Invalid request",
        `This token may not hold ${(err as ScopeNotAllowedError).scope}: a publishable token holds read scopes only, and no token holds a scope beyond your account's plan.`,
      );
    case "SEALING_KEY_UNKNOWN":
    case "INVALID_CONFIG":
      return internal();
    default:
      // INVALID_INPUT and its subclasses, ACCOUNT_NOT_FOUND: the request asks for something this server refuses.
      return new AdminAnswer(400, err.code, "Invalid request", err.message, {}, typeof field === "string" ? field : undefined);
  }
}

const internal = () => new AdminAnswer(500, "INTERNAL_ERROR", "Internal error", "The request could not be completed.");

/**
 * The answer to anything thrown while serving a request: the handler's own
 * answers as they are, keyward's errors by code, anything else a 500 that
 * says nothing of the cause.
 */
export function answerOf(err: unknown): AdminAnswer {
  if (err instanceof AdminAnswer) return err;
  if (isKeywardError(err)) return fromKeywardError(err);
  return internal();
}

/** The problem+json `Response` of an answer. */
export function problemOf(answer: AdminAnswer, typeBase = DEFAULT_PROBLEM_TYPE_BASE): Response {
  const body: AdminProblem = {
    type: typeBase + kebab(answer.code),
    title: answer.title,
    status: answer.status,
    detail: answer.detail,
    code: answer.code,
  };
  if (answer.field !== undefined && answer.field !== "") body.field = answer.field;
  return new Response(JSON.stringify(body), {
    status: answer.status,
    headers: { ...answer.headers, ...JSON_HEADERS, "content-type": PROBLEM_JSON },
  });
}
