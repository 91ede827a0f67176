// The admin handler: routes, the CSRF rules of mutations, authorization by
// owner, and each operation as a few lines over `kw.tokens` / `kw.usage`.
import { InvalidInputError, RevisionConflictError, StoreUnavailableError } from "../errors.js";
import { headAnswerOf } from "../http/head.js";
import { telemetryLogger } from "../keyward.js";
import { callHook } from "../lib/hook.js";
import { redactTokens } from "../lib/text.js";
import { answerWithin } from "../lib/within.js";
import type { AccountRecord } from "../manager/accounts.js";
import type { IssuedToken } from "../manager/issued.js";
import { isTokenId } from "../model/record.js";
import { type AccountAction, actionsOf, isRole, REFUSED_WHILE_SUSPENDED, type Role, roleCan } from "../model/roles.js";
import { actorSchema, idempotencyKeySchema, ownerSchema, parseInput, timestamp } from "../model/schemas.js";
import type { AuditEntry, Page, TokenRecord } from "../model/types.js";
import type { LogRecord } from "../monitor/telemetry.js";
import { readJson } from "./body.js";
import { CONSOLE_JS } from "./console/asset.js";
import { openApiDocument } from "./openapi.js";
import { type AdminConfig, type AdminErrorContext, type AdminHandlerOptions, type AdminOperation, type AdminPrincipal, parseAdminOptions } from "./options.js";
import { consolePage, PAGE_HEADERS } from "./page.js";
import { AdminAnswer, answerOf, JSON_HEADERS, problemOf } from "./problem.js";
import { createBodySchema, MAX_GRACE_MS, memberBodySchema, regenerateBodySchema, revokeBodySchema, updateBodySchema } from "./schemas.js";

/** A Fetch API handler: any runtime or framework that speaks `Request` / `Response`. */
export type AdminHandler = (request: Request) => Promise<Response>;

/** One request, once routed and authorized. */
interface Call {
  readonly url: URL;
  /** The JSON body of a POST, PUT or PATCH (read before the account, see handlerOf); undefined for the other methods. */
  readonly body: unknown;
  readonly owner: string;
  readonly actor: string;
  /** The caller's role in the account: every operation checks it (docs/roles.md). */
  readonly role: Role;
  /** The role was read from the account's members (authorize answered none): a member change is written only while it holds. */
  readonly roleOfMembers: boolean;
  /** The token id of `/tokens/{id}/…` routes. */
  readonly id: string;
  /** The `Idempotency-Key` of a create, parsed; undefined when not sent (or another operation). */
  readonly idempotencyKey: string | undefined;
}

/**
 * What a member may still do while the account is suspended: read, and take
 * access away (revoke or disable a token, remove a member). What would issue
 * a secret, widen a token, bring one back or erase it with its usage
 * (create, update, regenerate, enable, delete, a member's role) waits until
 * the operator lifts the suspension (403 ACCOUNT_SUSPENDED).
 */
const WHILE_SUSPENDED: ReadonlySet<AdminOperation> = new Set<AdminOperation>([
  "config",
  "tokens.list",
  "tokens.get",
  "tokens.usage",
  "tokens.audit",
  "audit",
  "members.list",
  "tokens.revoke",
  "tokens.disable",
  "members.remove",
]);

const suspendedAnswer = () =>
  new AdminAnswer(403, "ACCOUNT_SUSPENDED", "Account suspended", "This account is suspended: its tokens can be read, revoked or disabled, not created, changed or deleted.");

/** An audit page as members see it: without the operator's reason for a suspension. */
function forMembers(page: Page<AuditEntry>): Page<Omit<AuditEntry, "reason">> {
  return { ...page, items: page.items.map(({ reason: _, ...entry }) => entry) };
}

type Operation = (cfg: AdminConfig, call: Call) => Promise<Response>;

const json = (value: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(value), { status, headers: { ...headers, ...JSON_HEADERS, "content-type": "application/json" } });

const notFound = () => new AdminAnswer(404, "NOT_FOUND", "Not found", "There is nothing at this path.");

/** 405 for a path that takes `methods`: its `Allow` names HEAD wherever GET is (RFC 9110 §9.3.2, §10.2.1). */
const methodNotAllowed = (methods: readonly string[]) =>
  new AdminAnswer(405, "METHOD_NOT_ALLOWED", "Method not allowed", "This path does not accept this method.", {
    allow: methods.flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m])).join(", "),
  });

/** The token, if it is the caller's: another owner's token is answered exactly like an unknown id. */
async function own(cfg: AdminConfig, call: Call): Promise<TokenRecord> {
  const record = isTokenId(call.id) ? await cfg.kw.tokens.get(call.id) : null;
  if (record === null || record.owner !== call.owner) {
    throw new AdminAnswer(404, "TOKEN_NOT_FOUND", "Token not found", "No token with this id belongs to you.");
  }
  return record;
}

/** The role matrix: 403 ROLE_FORBIDDEN when the caller's role may not do `action`. */
function allow(call: Call, action: AccountAction): void {
  if (!roleCan(call.role, action)) {
    throw new AdminAnswer(403, "ROLE_FORBIDDEN", "Not allowed for your role", `Your role (${call.role}) may not do this (${action}).`);
  }
}

/** Who acts, for the audit log: the actor and their role. */
const by = (call: Call) => ({ actor: call.actor, role: call.role });

/**
 * Who changes members, and on what: the member's role read (`expectedRole`)
 * and the actor's own, both checked again on the read the change is written
 * over, so a demoted admin, or two admins demoting each other, change no one.
 */
const memberChangeBy = (call: Call, expectedRole: Role | null) => ({
  ...by(call),
  expectedRole,
  ...(call.roleOfMembers && { expectedActorRole: call.role }),
});

/** A change of limits needs `tokens.limits` besides `tokens.update`. */
const LIMIT_FIELDS = ["credits", "pools", "rateLimit", "rateLimits"] as const;

/** Every scope asked for must be one the application lets its customers grant, or one the token keeps (`held`). */
function checkGrantable(cfg: AdminConfig, scopes: readonly string[] | undefined, field: string, held: ReadonlySet<string> = new Set()): void {
  const i = scopes?.findIndex((s) => !cfg.grantable.has(s) && !held.has(s)) ?? -1;
  if (i >= 0) {
    throw new AdminAnswer(403, "SCOPE_NOT_GRANTABLE", "Scope not grantable", "You may not grant this scope.", {}, `${field}.${i}`);
  }
}

/**
 * The scopes a token holds now and in every revision to come: keeping one of
 * them in a change grants nothing, whoever granted it (the operator may have).
 */
function heldThroughout(record: TokenRecord): Set<string> {
  const held = new Set(record.policy.scopes);
  for (const s of record.scheduled) {
    const later = new Set(s.policy.scopes);
    for (const scope of held) if (!later.has(scope)) held.delete(scope);
  }
  return held;
}

/**
 * A private key sent where the public key goes (a JWK with `d`, a PEM of a
 * private key): the model would take the public key out of the JWK, and the
 * customer go on signing with a private key that crossed the network and is
 * in every log on the way. Judged on the body as sent, before the model
 * turns the key into its public bytes.
 */
function refusePrivateKey(signing: unknown, field: string): void {
  const key = (signing as { publicKey?: unknown } | null | undefined)?.publicKey;
  const isPrivate = typeof key === "string" ? /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(key) : typeof key === "object" && key !== null && Object.hasOwn(key, "d");
  if (isPrivate) {
    throw new InvalidInputError(field, "is a private key, which never leaves its holder", { hint: "send its public key only, and replace this key pair" });
  }
}

/** `limit` and `cursor` from the query. */
function pageOf(url: URL): { limit?: number; cursor?: string } {
  const limit = url.searchParams.get("limit");
  const cursor = url.searchParams.get("cursor");
  const out: { limit?: number; cursor?: string } = {};
  if (limit !== null) {
    if (!/^\d{1,4}$/.test(limit)) throw new InvalidInputError("limit", "must be an integer from 1 to 1000");
    out.limit = Number(limit);
  }
  if (cursor !== null) out.cursor = cursor;
  return out;
}

/** A time from the query: epoch milliseconds or an ISO-8601 date-time. */
function timeOf(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  return parseInput(timestamp, /^\d{1,16}$/.test(v) ? Number(v) : v, name);
}

/** A change of members, whose conflict is about a member's role, not a token. */
async function memberChange<T>(change: Promise<T>): Promise<T> {
  try {
    return await change;
  } catch (err) {
    if (!(err instanceof RevisionConflictError)) throw err;
    throw new AdminAnswer(
      409,
      "REVISION_CONFLICT",
      "Revision conflict",
      "The member's role, or your own, was changed since you read it: reload and apply your change again if your role still allows it.",
    );
  }
}

const issued = (result: IssuedToken) => ({ token: result.token, record: result.record });

const OPERATIONS: Record<Exclude<AdminOperation, "config">, Operation> = {
  "tokens.list": async (cfg, call) => {
    allow(call, "tokens.read");
    return json(await cfg.kw.tokens.list(call.owner, pageOf(call.url)));
  },
  "tokens.create": async (cfg, call) => {
    const { body } = call;
    refusePrivateKey((body as { signing?: unknown } | null)?.signing, "signing.publicKey");
    const data = parseInput(createBodySchema, body, "body");
    allow(call, data.kind === "secret" ? "tokens.create.secret" : "tokens.create.publishable");
    // A new token without limits has none to set: only a limit given is a change of limits.
    if (LIMIT_FIELDS.some((f) => (data as Record<string, unknown>)[f] != null)) allow(call, "tokens.limits");
    // A token without `scopes` gets the instance's defaults: they are granted as much as scopes named.
    const scopes = data.scopes ?? cfg.kw.tokens.defaultScopes;
    if (data.scopes === undefined && scopes.some((s) => !cfg.grantable.has(s))) {
      throw new AdminAnswer(403, "SCOPE_NOT_GRANTABLE", "Scope not grantable", "You may not grant every default scope: name the scopes the token should hold.", {}, "scopes");
    }
    checkGrantable(cfg, scopes, "scopes");
    const input = { ...(body as object), scopes, owner: call.owner } as Parameters<typeof cfg.kw.tokens.create>[0];
    const result = await cfg.kw.tokens.create(input, { ...by(call), idempotencyKey: call.idempotencyKey });
    const location = `${cfg.basePath}/tokens/${result.record.id}`;
    // Sent again under its key: the token made the first time, never its secret again (keyward keeps none).
    if (result.token === null) return json(result, 200, { location, "idempotent-replayed": "true" });
    return json(issued(result as IssuedToken), 201, { location });
  },
  "tokens.get": async (cfg, call) => {
    allow(call, "tokens.read");
    return json(await own(cfg, call));
  },
  "tokens.update": async (cfg, call) => {
    const { body } = call;
    refusePrivateKey((body as { patch?: { signing?: unknown } | null } | null)?.patch?.signing, "patch.signing.publicKey");
    const data = parseInput(updateBodySchema, body, "body");
    allow(call, "tokens.update");
    if (LIMIT_FIELDS.some((f) => (data.patch as Record<string, unknown>)[f] !== undefined)) allow(call, "tokens.limits");
    const record = await own(cfg, call);
    const key = data.patch.signing?.alg === "ed25519" ? data.patch.signing.publicKey : null;
    const newKey = key !== null && !(record.signing?.alg === "ed25519" && record.signing.publicKey === key);
    // What is judged on the token as it is (the scopes it keeps, its key) is judged on the revision the patch applies to (kw refuses any other).
    const addsScopes = data.patch.scopes?.some((s) => !cfg.grantable.has(s)) ?? false;
    if ((addsScopes || newKey) && record.revision !== data.expectedRevision) throw new RevisionConflictError(record.id, data.expectedRevision);
    // A new signing key works without the token string (its id is the keyid): for a secret token, a secret token made, as a regeneration.
    if (newKey && record.kind === "secret") allow(call, "tokens.create.secret");
    // Only a scope the patch adds must be grantable.
    if (addsScopes) checkGrantable(cfg, data.patch.scopes, "patch.scopes", heldThroughout(record));
    const { patch, expectedRevision, effectiveAt } = body as { patch: object; expectedRevision: number; effectiveAt?: number | string };
    const options = { ...by(call), expectedRevision, ...(effectiveAt !== undefined && { effectiveAt }) };
    return json(await cfg.kw.tokens.update(call.id, patch, options));
  },
  "tokens.regenerate": async (cfg, call) => {
    const data = parseInput(regenerateBodySchema, call.body, "body");
    allow(call, "tokens.regenerate");
    // A new secret of a secret token is a secret token made: as for creating one.
    if ((await own(cfg, call)).kind === "secret") allow(call, "tokens.create.secret");
    // A second submit of the same form names a revision the first one moved past: kw checks it on the read it writes over.
    const options = { ...by(call), graceMs: data.graceMs ?? 0, ...(data.expectedRevision !== undefined && { expectedRevision: data.expectedRevision }) };
    return json(issued(await cfg.kw.tokens.regenerate(call.id, options)));
  },
  "tokens.revoke": async (cfg, call) => {
    parseInput(revokeBodySchema, call.body, "body");
    allow(call, "tokens.revoke");
    await own(cfg, call);
    return json(await cfg.kw.tokens.revoke(call.id, by(call)));
  },
  "tokens.disable": async (cfg, call) => {
    parseInput(revokeBodySchema, call.body, "body");
    allow(call, "tokens.disable");
    await own(cfg, call);
    return json(await cfg.kw.tokens.disable(call.id, by(call)));
  },
  "tokens.enable": async (cfg, call) => {
    parseInput(revokeBodySchema, call.body, "body");
    allow(call, "tokens.disable");
    await own(cfg, call);
    return json(await cfg.kw.tokens.enable(call.id, by(call)));
  },
  "tokens.delete": async (cfg, call) => {
    allow(call, "tokens.delete");
    await own(cfg, call);
    return json(await cfg.kw.tokens.delete(call.id, by(call)));
  },
  "tokens.usage": async (cfg, call) => {
    allow(call, "usage.read");
    await own(cfg, call);
    const granularity = call.url.searchParams.get("granularity") ?? "hour";
    if (granularity !== "hour" && granularity !== "day") throw new InvalidInputError("granularity", 'must be "hour" or "day"');
    // Absent times are kw's defaults, on its clock: to now, from a day before.
    const from = timeOf(call.url, "from");
    const to = timeOf(call.url, "to");
    const range = { ...(from !== undefined && { from }), ...(to !== undefined && { to }) };
    return json({ granularity, buckets: await cfg.kw.usage.get(call.id, { ...range, granularity }) });
  },
  "tokens.audit": async (cfg, call) => {
    allow(call, "tokens.read");
    await own(cfg, call);
    return json(forMembers(await cfg.kw.tokens.audit({ tokenId: call.id }, pageOf(call.url))));
  },
  audit: async (cfg, call) => {
    allow(call, "tokens.read");
    return json(forMembers(await cfg.kw.tokens.audit({ owner: call.owner }, pageOf(call.url))));
  },
  "members.list": async (cfg, call) => {
    allow(call, "members.read");
    return json({ members: await cfg.kw.accounts.members.list(call.owner) });
  },
  "members.set": async (cfg, call) => {
    const data = parseInput(memberBodySchema, call.body, "body");
    allow(call, "members.manage");
    const current = await cfg.kw.accounts.members.roleOf(call.owner, call.id);
    // Only an owner makes or unmakes owners; the change applies only to the role it was allowed on.
    if (data.role === "owner" || current === "owner") allow(call, "members.manage.owner");
    return json({ members: await memberChange(cfg.kw.accounts.members.set(call.owner, call.id, data.role, memberChangeBy(call, current))) });
  },
  "members.remove": async (cfg, call) => {
    allow(call, "members.manage");
    const current = await cfg.kw.accounts.members.roleOf(call.owner, call.id);
    if (current === "owner") allow(call, "members.manage.owner");
    return json({ members: await memberChange(cfg.kw.accounts.members.remove(call.owner, call.id, memberChangeBy(call, current))) });
  },
};

type Methods = Partial<Record<string, AdminOperation>>;

const TOKEN_SUBPATHS: Record<string, Methods> = {
  regenerate: { POST: "tokens.regenerate" },
  revoke: { POST: "tokens.revoke" },
  disable: { POST: "tokens.disable" },
  enable: { POST: "tokens.enable" },
  usage: { GET: "tokens.usage" },
  audit: { GET: "tokens.audit" },
};

/** The operations of an API path by method, and the token id it names; null for a path that is not the API's. */
function route(parts: readonly string[]): { methods: Methods; id: string } | null {
  const [a, id = "", sub, extra] = parts;
  if (parts.length === 1 && a === "config") return { methods: { GET: "config" }, id };
  if (parts.length === 1 && a === "audit") return { methods: { GET: "audit" }, id };
  if (a === "members" && parts.length === 1) return { methods: { GET: "members.list" }, id };
  if (a === "members" && parts.length === 2) return { methods: { PUT: "members.set", DELETE: "members.remove" }, id: decodeMember(id) };
  if (a !== "tokens" || extra !== undefined) return null;
  if (parts.length === 1) return { methods: { GET: "tokens.list", POST: "tokens.create" }, id };
  if (sub === undefined) return { methods: { GET: "tokens.get", PATCH: "tokens.update", DELETE: "tokens.delete" }, id };
  return Object.hasOwn(TOKEN_SUBPATHS, sub) ? { methods: TOKEN_SUBPATHS[sub]!, id } : null;
}

/** A structured-field string (RFC 9651 §3.3.3): printable ASCII in quotes, `"` and `\` escaped. */
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;

/**
 * The key of an `Idempotency-Key` field (draft-ietf-httpapi-idempotency-key-header
 * §2.1: a structured-field string, `"8e03978e…"`; Stripe's bare value,
 * `8e03978e…`, is taken as it is): 1 to 255 printable ASCII characters.
 * Undefined when the field is absent; 400 INVALID_IDEMPOTENCY_KEY when malformed.
 */
function idempotencyKeyOf(field: string | null): string | undefined {
  if (field === null) return undefined;
  const quoted = field.startsWith('"') ? SF_STRING.exec(field) : undefined;
  const key = quoted === undefined ? field : quoted?.[1]?.replace(/\\(["\\])/g, "$1");
  // What kw.tokens.create takes too (no token in it, say): every key refused is refused here, with this code.
  if (key === undefined || !/^[\x20-\x7e]{1,255}$/.test(key) || !idempotencyKeySchema.safeParse(key).success) {
    throw new AdminAnswer(
      400,
      "INVALID_IDEMPOTENCY_KEY",
      "Invalid Idempotency-Key",
      "Idempotency-Key must be 1 to 255 printable ASCII characters, bare or as a quoted string (a UUID, say).",
      {},
      "Idempotency-Key",
    );
  }
  return key;
}

/**
 * A mutation must come from the application's own pages or from a server:
 * browsers mark every request with `Sec-Fetch-Site` (Fetch Metadata), and a
 * state change from another site, or another origin of the same site, is
 * refused even before the JSON media type would force a CORS preflight.
 * Without it (an older browser, a proxy that strips it), a browser names its
 * page's origin in `Origin` on every change (Fetch §3.1; `null` from an
 * opaque one): any but this one's is refused. Neither header: no browser's.
 */
function checkFetchSite(request: Request, own: string, allowed: ReadonlySet<string>): void {
  const site = request.headers.get("sec-fetch-site");
  const origin = request.headers.get("origin");
  if (site === null ? origin !== null && origin !== own && !allowed.has(origin) : site !== "same-origin" && site !== "none") {
    throw new AdminAnswer(403, "CROSS_SITE_REQUEST", "Cross-site request", "Changes are accepted from this site's own pages only.");
  }
}

/**
 * The caller, as `authorize` says, waited for `storeTimeoutMs` at most (a
 * session store that hangs): then 503, as for keyward's own store, and
 * nothing was done yet.
 */
async function principal(cfg: AdminConfig, request: Request, operation: AdminOperation, lateFailure: (error: unknown) => void): Promise<AdminPrincipal | Response> {
  const ms = cfg.storeTimeoutMs;
  const late = () =>
    lateAnswer("Your sign-in could not be checked in time; retry later.", new StoreUnavailableError(`authorize did not answer within ${ms} ms`));
  const result = await within((async () => cfg.authorize(request, { operation }))(), ms, "authorize", late, lateFailure);
  if (result instanceof Response) return result;
  if (result === false) throw new AdminAnswer(403, "FORBIDDEN", "Forbidden", "You may not do this.");
  if (result === null || result === undefined) {
    throw new AdminAnswer(401, "UNAUTHORIZED", "Sign-in required", "Sign in to manage your API tokens.", {
      "www-authenticate": 'Bearer realm="keyward-admin"',
    });
  }
  const p = typeof result === "string" ? { owner: result } : result;
  // The application's answer, not the client's: a malformed one (an owner or actor keyward would
  // refuse: too long, control characters, a token) is a bug on the server side (500), not a 400
  // naming a field the client never sent.
  if (!ownerSchema.safeParse(p.owner).success || (p.actor !== undefined && !actorSchema.safeParse(p.actor).success) || (p.role !== undefined && !isRole(p.role))) {
    throw new TypeError("authorize must return an owner string or { owner, actor, role }");
  }
  return p;
}

/** The owner's account as it is now, or null (none, or a store without accounts). */
async function accountOf(cfg: AdminConfig, owner: string): Promise<AccountRecord | null> {
  return cfg.kw.accounts.get(owner).catch((err: unknown) => {
    if ((err as { code?: string })?.code === "STORE_UNSUPPORTED") return null;
    throw err;
  });
}

/**
 * The actor's role in the owner's account: its members' say; an account
 * without members (or a store without accounts) has one user, its owner. A
 * caller who is not among the members may do nothing.
 */
function roleIn(account: AccountRecord | null, actor: string): Role {
  const members = account?.members ?? {};
  if (Object.keys(members).length === 0) return "owner";
  const role = Object.hasOwn(members, actor) ? members[actor] : undefined;
  if (role === undefined) throw new AdminAnswer(403, "ROLE_FORBIDDEN", "Not a member", "You are not a member of this account.");
  return role;
}

/** A member id from the path (percent-decoded; a malformed one is 404). */
function decodeMember(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw notFound();
  }
}

/**
 * The handler over parsed options: console page and its module, the
 * OpenAPI document, and the API.
 */
function handlerOf(cfg: AdminConfig): AdminHandler {
  let openapi: string | undefined;
  /** The document, the page or its module at `rest`, or null: each is read only (GET, HEAD). */
  const resourceAt = (rest: string): (() => Response) | null => {
    if (rest === "/openapi.json") {
      return () => {
        openapi ??= JSON.stringify(openApiDocument(cfg));
        return new Response(openapi, { headers: { ...JSON_HEADERS, "content-type": "application/json" } });
      };
    }
    if (cfg.console && (rest === "" || rest === "/")) return () => new Response(consolePage(cfg), { headers: PAGE_HEADERS });
    if (cfg.console && rest === "/console.js") {
      return () => new Response(CONSOLE_JS, { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", "x-content-type-options": "nosniff" } });
    }
    return null;
  };
  const logger = telemetryLogger(cfg.kw);
  const answer = async (request: Request): Promise<Response> => {
    let operation: AdminOperation | null = null;
    try {
      const url = new URL(request.url);
      const { pathname } = url;
      if (pathname !== cfg.basePath && !pathname.startsWith(`${cfg.basePath}/`)) throw notFound();
      const rest = pathname.slice(cfg.basePath.length);
      const method = request.method;
      const isGet = method === "GET" || method === "HEAD";
      const resource = resourceAt(rest);
      if (resource !== null) {
        if (!isGet) throw methodNotAllowed(["GET"]);
        return resource();
      }
      const parts = rest.split("/").slice(1);
      const found = route(parts);
      if (found === null) throw notFound();
      const verb = isGet ? "GET" : method;
      const op = Object.hasOwn(found.methods, verb) ? found.methods[verb] : undefined;
      if (op === undefined) throw methodNotAllowed(Object.keys(found.methods));
      operation = op;
      if (!isGet) checkFetchSite(request, url.origin, cfg.allowedOrigins);
      // A call given up on at its deadline (the client answered 503) that fails later: its cause is reported too.
      const lateFailure = (error: unknown) => {
        if (answerOf(error).status < 500) return;
        const context = { operation: op, method: request.method, status: 503, code: "STORE_UNAVAILABLE", late: true } as const;
        reportFailure(cfg, logger, error instanceof AdminAnswer && error.cause !== undefined ? error.cause : error, context);
      };
      const who = await principal(cfg, request, op, lateFailure);
      if (who instanceof Response) return who;
      // The body first, then the account: a change is judged on the role and suspension in force once its body is
      // in, not before a body that took up to bodyTimeoutMs to arrive.
      // Only a create keeps a key (the other changes are idempotent, or take expectedRevision): elsewhere it is not read.
      const idempotencyKey = op === "tokens.create" ? idempotencyKeyOf(request.headers.get("idempotency-key")) : undefined;
      const body = method === "POST" || method === "PUT" || method === "PATCH" ? await readJson(request, cfg) : undefined;
      const late = () => lateAnswer(isGet ? LATE_READ : LATE_CHANGE, new StoreUnavailableError(`the store did not answer an admin request within ${cfg.storeTimeoutMs} ms`));
      return await within(served(cfg, op, who, { url, body, id: found.id, idempotencyKey }), cfg.storeTimeoutMs, "an admin request", late, lateFailure);
    } catch (err) {
      const answer = answerOf(err);
      if (answer.status >= 500) reportFailure(cfg, logger, err instanceof AdminAnswer && err.cause !== undefined ? err.cause : err, { operation, method: request.method, status: answer.status, code: answer.code });
      return problemOf(answer, cfg.problemTypeBase);
    }
  };
  return async (request) => {
    // HEAD is answered as GET, with its Content-Length and without its content, whatever serves this Response.
    const response = await answer(request);
    return request.method === "HEAD" ? headAnswerOf(response) : response;
  };
}

/** The answer to an authorized request whose body is in: every store call of a request is made here. */
async function served(cfg: AdminConfig, op: AdminOperation, who: AdminPrincipal, request: Pick<Call, "url" | "body" | "id" | "idempotencyKey">): Promise<Response> {
  const actor = who.actor ?? who.owner;
  const account = await accountOf(cfg, who.owner);
  const role = who.role ?? roleIn(account, actor);
  const call: Call = { ...request, owner: who.owner, actor, role, roleOfMembers: who.role === undefined };
  // Only the operator suspends and lifts (kw.accounts.set): members can do nothing here that works around it.
  const suspension = account?.policy.suspended ?? null;
  const suspended = suspension !== null;
  if (suspended && !WHILE_SUSPENDED.has(op)) throw suspendedAnswer();
  if (op === "config") {
    return json({
      owner: call.owner,
      actor: call.actor,
      role,
      suspended,
      suspendedSince: suspension?.since ?? null,
      // The actions the console offers: none a suspension refuses.
      actions: actionsOf(role).filter((a) => !(suspended && REFUSED_WHILE_SUSPENDED.has(a))),
      grantableScopes: [...cfg.grantable],
      datasets: cfg.datasets,
      maxGraceMs: MAX_GRACE_MS,
    });
  }
  return OPERATIONS[op](cfg, call);
}

/**
 * `call`, waited for `ms` at most (then `late()` is thrown); a failure of it after that, which no
 * answer carries any more (the client had its 503), is handed to `lateFailure`.
 */
function within<T>(call: Promise<T>, ms: number, what: string, late: () => AdminAnswer, lateFailure: (error: unknown) => void): Promise<T> {
  return answerWithin(call, ms, what, () => {
    call.catch((error: unknown) => {
      try {
        lateFailure(error);
      } catch {
        // A value whose class cannot be read: no report, and no unhandled rejection to end the process.
      }
    });
    return late();
  });
}

const LATE_READ = "The token store did not answer in time; retry later.";
/** The store's calls go on: a change among them may still be made after this answer. */
const LATE_CHANGE = "The token store did not answer in time. The change may still be made: reload before you try it again.";

/** The answer to a request whose store calls, or `authorize`, outlived `storeTimeoutMs`; `cause` is what onError is handed. */
function lateAnswer(detail: string, cause: StoreUnavailableError): AdminAnswer {
  return Object.assign(new AdminAnswer(503, "STORE_UNAVAILABLE", "Service unavailable", detail, { "retry-after": "1" }), { cause });
}

/** An error's class name, if it looks like one: what the default reports name, never a message (a token in it redacted). */
const nameOf = (err: unknown): string => {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === "string" && /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? redactTokens(name) : typeof err;
};

/** An error's own code (keyward's, a driver's), if it has a short one (a token in it redacted: the application's value, as its message is). */
const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === "string" && /^[\w.-]{1,64}$/.test(code)) || typeof code === "number" ? redactTokens(String(code)) : undefined;
};

/**
 * Tells the operator of an answer that is the server's failure (5xx): onError
 * with the cause, and the telemetry logger; without either, one console line.
 * Reports name codes only: a message (a driver's, the application's) may
 * quote a stored value or a session.
 */
function reportFailure(cfg: AdminConfig, logger: ((record: LogRecord) => void) | undefined, error: unknown, context: AdminErrorContext): void {
  callHook(cfg.onError, error, context);
  if (logger === undefined && cfg.onError !== undefined) return;
  let cause: { name: string; code: string | undefined };
  try {
    cause = { name: nameOf(error), code: codeOf(error) };
  } catch {
    // A thrown value whose name or code throws when read: the answer stands all the same.
    cause = { name: "unknown", code: undefined };
  }
  const what = (cause.code === undefined ? cause.name : `${cause.name} ${cause.code}`) + (context.late ? ", after the answer" : "");
  if (logger !== undefined) {
    const fields: LogRecord["fields"] = { method: context.method, status: context.status, code: context.code, error: cause.name };
    if (context.operation !== null) fields.operation = context.operation;
    if (cause.code !== undefined) fields.errorCode = cause.code;
    if (context.late) fields.late = true;
    callHook(logger, { level: "error", event: "admin.error", message: `admin request failed: ${context.status} ${context.code} (${what})`, fields });
  } else {
    console.error(
      `keyward admin: ${context.method} ${context.operation ?? "(no operation)"} answered ${context.status} ${context.code} (${what}). ` +
        "Set the handler's onError (or keyward's telemetry.logger) to see each error; messages are never written here.",
    );
  }
}

/**
 * A Fetch API handler serving one customer's own tokens: a JSON REST API
 * (list, create, read, update, regenerate, disable, enable, revoke, delete,
 * usage, audit, members; each as the caller's role allows), its
 * OpenAPI 3.1 document at `/openapi.json`, and the console page at the base
 * path. Errors are RFC 9457 problem+json.
 *
 * @param options the Keyward instance, `authorize`, the base path and what customers may grant
 * @returns `(request) => Promise<Response>`: mount it in any framework (docs/console.md)
 * @throws {ConfigError} `INVALID_CONFIG` naming a bad option
 * @example
 * ```ts
 * import { Keyward, MemoryStore } from "keyward";
 * import { createAdminHandler } from "keyward/admin";
 *
 * const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
 * const admin = createAdminHandler({
 *   keyward: kw,
 *   basePath: "/account/api-tokens",
 *   authorize: (request) => (request.headers.get("authorization") === "Bearer demo-session" ? "acct_1" : null),
 * });
 * const res = await admin(new Request("https://example.com/account/api-tokens/tokens", { headers: { authorization: "Bearer demo-session" } }));
 * console.log(res.status, await res.json()); // 200 { items: [], nextCursor: null }
 * ```
 */
export function createAdminHandler(options: AdminHandlerOptions): AdminHandler {
  return handlerOf(parseAdminOptions(options));
}
