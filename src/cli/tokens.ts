// The token commands: create, list, show, update, revoke, disable, enable,
// delete, regenerate, lifecycle, audit.
import {
  type AuditEntry,
  type CreditsInput,
  InvalidInputError,
  isKeywardError,
  type Keyward,
  type ListTokensOptions,
  policyAt,
  TokenNotFoundError,
  type TokenPolicy,
  type TokenRecord,
  type UpdateTokenInput,
  type UpdateTokenOptions,
} from "../index.js";
import { isTokenId } from "../model/record.js";
import {
  COMMON,
  type Command,
  type CommandContext,
  parseCount,
  parseDuration,
  parseSince,
  parseTime,
  positional,
  required,
  STORE_OPTIONS,
} from "./command.js";
import { formatDuration } from "./duration.js";
import { CliError, EXIT, type Io, issuedJson, json, line } from "./io.js";
import { keywardOver, withStore } from "./store.js";

export const ACTOR = { actor: { type: "string", value: "name", description: "who acts, for the audit log (default cli)" } } as const;
/** The setting {@link ACTOR} gives, for a command's `settings`: an error about the actor names `--actor`. */
export const ACTOR_SETTING = { actor: "actor" } as const;

const SETTINGS = {
  name: { type: "string", value: "text", description: "a label for people" },
  scope: { type: "string", multiple: true, value: "scope", description: "granted scope, e.g. core:read" },
  domain: { type: "string", multiple: true, value: "host", description: "allowed Origin host (publishable tokens)" },
  ip: { type: "string", multiple: true, value: "cidr", description: "allowed client IP or CIDR" },
  credits: { type: "string", value: "n", description: "credit allowance (0 or more)" },
  refill: { type: "string", value: "n/duration|none", description: "credits coming back, e.g. 1000/30d (update: kept unless given; none removes it)" },
  reset: { type: "string", value: "day|month|none", description: "credits full again at 00:00 UTC every day or month (update: kept unless given; none removes it)" },
  pool: { type: "string", multiple: true, value: "name=n[/day|/month]", description: "a named credit pool, e.g. premium=500/month (update: replaces every pool)" },
  "rate-limit": { type: "string", multiple: true, value: "n/duration", description: "requests per window, e.g. 100/1s (update: replaces every limit)" },
  "expires-at": { type: "string", value: "time", description: "ISO-8601 time or +duration (e.g. +30d)" },
  "require-signed": { type: "boolean", description: "require RFC 9421 signed requests" },
  "ed25519-public-key": { type: "string", value: "base64url", description: "the client's signing key (see keygen)" },
} as const;

/** The library's settings that {@link SETTINGS} give, with their options: an error about one names its option. */
const SETTING_OPTIONS = {
  rateLimit: "rate-limit",
  rateLimits: "rate-limit",
  // Before `credits`: the first setting a field is of names it. Not `pools`: their fields name the pool (`pools.premium`).
  "credits.refill": "refill",
  "credits.reset": "reset",
  credits: "credits",
  expiresAt: "expires-at",
  ...ACTOR_SETTING,
} as const;

type Values = CommandContext["values"];

function ratio(text: string, name: string): { n: number; ms: number } {
  const [n, d] = text.split("/");
  if (n === undefined || d === undefined) throw new CliError(`--${name}: expected <n>/<duration>, e.g. 100/1s`, EXIT.USAGE);
  return { n: parseCount(n, name), ms: parseDuration(d, name) };
}

/**
 * The settings given on the command line, as an input of tokens.create /
 * update, but for credits (see {@link creditsFlags}). A list flag given
 * replaces the whole list: `--scope`, `--domain`, `--ip`, `--pool` (every
 * named pool) and `--rate-limit` (every rate limit, `rateLimit` and
 * `rateLimits` alike).
 */
function settings(values: Values, now: number): UpdateTokenInput {
  const input: UpdateTokenInput = {};
  if (typeof values.name === "string") input.name = values.name;
  if (Array.isArray(values.scope)) input.scopes = values.scope;
  if (Array.isArray(values.domain)) input.domains = values.domain;
  if (Array.isArray(values.ip)) input.ips = values.ip;
  if (Array.isArray(values.pool)) {
    // No prototype: `--pool __proto__=5` is an own key, which the library refuses, not a prototype set and lost.
    const pools: Record<string, CreditsInput> = Object.create(null);
    for (const spec of values.pool as string[]) {
      const m = /^([^=]+)=([^/]+)(?:\/(.*))?$/.exec(spec);
      if (!m) throw new CliError("--pool: expected <name>=<n>[/day|/month], e.g. premium=500/month", EXIT.USAGE);
      if (m[1]! in pools) throw new CliError(`--pool: ${m[1]} is given twice`, EXIT.USAGE);
      const per = calendarReset(m[3], "pool");
      pools[m[1]!] = { limit: parseCount(m[2]!, "pool"), ...(per ? { reset: per } : {}) };
    }
    input.pools = pools;
  }
  if (Array.isArray(values["rate-limit"])) {
    const [first, ...more] = (values["rate-limit"] as string[]).map((text) => ratio(text, "rate-limit"));
    if (first) input.rateLimit = { limit: first.n, windowMs: first.ms };
    // Null, not absent: an update given one limit drops the token's other limits.
    input.rateLimits = more.length > 0 ? more.map(({ n, ms }) => ({ limit: n, windowMs: ms })) : null;
  }
  if (typeof values["expires-at"] === "string") input.expiresAt = parseTime(values["expires-at"], "expires-at", now);
  if (values["require-signed"] === true) input.requireSignedRequests = true;
  if (typeof values["ed25519-public-key"] === "string") input.signing = { alg: "ed25519", publicKey: values["ed25519-public-key"] };
  return input;
}

/** What `--credits`, `--refill` and `--reset` say; a field is absent when its flag is not given, null for `none`. */
interface CreditsFlags {
  limit?: number;
  refill?: { amount: number; intervalMs: number } | null;
  reset?: "day" | "month" | null;
}

/** The credit flags given, checked before any store access; null when none is. */
function creditsFlags(values: Values): CreditsFlags | null {
  const flags: CreditsFlags = {};
  if (typeof values.credits === "string") flags.limit = parseCount(values.credits, "credits");
  if (typeof values.refill === "string") {
    const r = values.refill === "none" ? null : ratio(values.refill, "refill");
    flags.refill = r && { amount: r.n, intervalMs: r.ms };
  }
  if (typeof values.reset === "string") flags.reset = values.reset === "none" ? null : calendarReset(values.reset, "reset");
  return Object.keys(flags).length > 0 ? flags : null;
}

/**
 * The credit allowance the flags make of `current` (the token's, or null):
 * what is not given is kept, so `--credits 200` keeps a monthly reset. A
 * refill and a calendar reset exclude each other: giving one drops the other.
 */
function creditsInput(flags: CreditsFlags, current: CreditsView | null): CreditsInput {
  const limit = flags.limit ?? current?.limit;
  if (limit === undefined) throw new CliError(`--${flags.refill !== undefined ? "refill" : "reset"} needs --credits`, EXIT.USAGE);
  const refill = flags.refill !== undefined ? flags.refill : flags.reset ? null : (current?.refill ?? null);
  const reset = flags.reset !== undefined ? flags.reset : refill ? null : (current?.reset ?? null);
  return { limit, refill, ...(reset ? { reset } : {}) };
}

function calendarReset(text: string | undefined, name: string): "day" | "month" | null {
  if (text === undefined) return null;
  if (text === "day" || text === "month") return text;
  throw new CliError(`--${name}: expected day or month`, EXIT.USAGE);
}

type CreditsView = { limit: number; refill: { amount: number; intervalMs: number } | null; reset?: "day" | "month" | null };
/** An allowance as `show` writes it: `1000 (+1000 every 30d)`, `500 (full every month, UTC)`. */
export const creditsText = (c: CreditsView) =>
  `${c.limit}${c.refill ? ` (+${c.refill.amount} every ${formatDuration(c.refill.intervalMs)})` : ""}${c.reset ? ` (full every ${c.reset}, UTC)` : ""}`;

const creditsRow = (c: CreditsView | null) => (c ? creditsText(c) : "unmetered");

const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());

/** Whether a token works: revoked, disabled, or expired (under the policy in force now) each say why it does not. */
export type TokenStatus = "active" | "revoked" | "disabled" | "expired";

/**
 * A token's status at `now`, in the order the verifier denies it: revoked,
 * then disabled, then expired.
 *
 * @param r the token's state, and the policy in force at `now`
 */
export function statusOf(r: Pick<TokenRecord, "revokedAt" | "disabledAt"> & { policy: { expiresAt: number | null } }, now: number): TokenStatus {
  if (r.revokedAt !== null) return "revoked";
  if (r.disabledAt !== null) return "disabled";
  return r.policy.expiresAt !== null && r.policy.expiresAt <= now ? "expired" : "active";
}

/** `revoked <when>`, `disabled <when>`, `expired <when>` or `active`. */
function statusText(r: TokenRecord, now: number): string {
  const status = statusOf(r, now);
  const since = { revoked: r.revokedAt, disabled: r.disabledAt, expired: r.policy.expiresAt, active: null }[status];
  return since === null ? status : `${status} ${iso(since)}`;
}

/** A policy as readable rows (a label may come more than once: rate limits). */
function policyRows(p: TokenPolicy, signing: TokenRecord["signing"]): [string, string][] {
  return [
    ["scopes", p.scopes.join(" ") || "-"],
    ["domains", p.domains.join(" ") || "any"],
    ["ips", p.ips.join(" ") || "any"],
    ["credits", creditsRow(p.credits)],
    ...Object.entries(p.pools ?? {}).map(([name, c]): [string, string] => [`pool ${name}`, creditsText(c)]),
    ["rate limit", p.rateLimit ? `${p.rateLimit.limit} per ${formatDuration(p.rateLimit.windowMs)}` : "none"],
    ...(p.rateLimits ?? []).map((l): [string, string] => ["rate limit", `${l.limit} per ${formatDuration(l.windowMs)}`]),
    ["expires", iso(p.expiresAt)],
    ["signed requests", p.requireSignedRequests ? `required (${signing?.alg ?? "no key"})` : "optional"],
  ];
}

/**
 * What a scheduled policy changes from the one before it, as `credits 5;
 * rate limit none`: each setting that differs with its new value (a pool
 * the change removes: `pool <name> none`).
 */
export function policyChanges(before: [string, string][], after: [string, string][]): string {
  const byLabel = (rows: [string, string][]) => {
    const map = new Map<string, string[]>();
    for (const [k, v] of rows) map.set(k, [...(map.get(k) ?? []), v]);
    return map;
  };
  const old = byLabel(before);
  const next = byLabel(after);
  const changes: string[] = [];
  for (const label of new Set([...next.keys(), ...old.keys()])) {
    const value = next.get(label)?.join(", ") ?? "none";
    if (value !== (old.get(label)?.join(", ") ?? "none")) changes.push(`${label} ${value}`);
  }
  return changes.join("; ") || "no change";
}

/** A record as readable lines (stored text is escaped by `line`). */
function printRecord(io: Io, r: TokenRecord): void {
  const current = policyRows(r.policy, r.signing);
  const rows: [string, string][] = [
    ["id", r.id],
    ["token", `${r.start}…`],
    ["kind", `${r.kind} (${r.env})`],
    ["owner", r.owner],
    ["name", r.name || "-"],
    ["status", statusText(r, Date.now())],
    ...current,
    ["created", iso(r.createdAt)],
    ["revision", String(r.revision)],
  ];
  if (r.graceUntil !== null) rows.push(["old secret until", iso(r.graceUntil)]);
  // Each scheduled change shows what it changes from the policy in force before it.
  let before = current;
  for (const s of r.scheduled) {
    const after = policyRows(s.policy, r.signing);
    rows.push(["scheduled", `${iso(s.effectiveAt)}: ${policyChanges(before, after)}`]);
    before = after;
  }
  for (const [k, v] of rows) line(io, `${k.padEnd(17)}${v}`);
}

/**
 * The new token, shown once: on stdout only, never in a log or an error.
 * The note that it is shown once comes after it is written. When it could
 * not be (stdout on a full disk, or closed before it), nobody has it:
 * `create` revokes the new token; `regenerate` does not (that would also end
 * the old secret's grace period, which clients may be using) and says how to
 * recover. Either way the error names the token's id, exit 6.
 */
async function printIssued(
  ctx: CommandContext,
  keyward: Keyward,
  issued: { token: string; record: TokenRecord },
  lost: "revoke" | "keep",
): Promise<void> {
  const { id, kind } = issued.record;
  if (ctx.values.json) issuedJson(ctx.io, issued.token, issued.record);
  else ctx.io.out(`${issued.token}\n`);
  const why = await (ctx.io.flushOut?.() ?? Promise.resolve(true)).then(
    (written) => (written ? null : "stdout was closed"),
    (err: unknown) => {
      if (err instanceof CliError) return err.message;
      throw err;
    },
  );
  if (why !== null) {
    if (lost === "keep") {
      throw new CliError(`${why}: the new secret of ${id} was not shown and nobody has it (regenerate it again, or revoke it)`, EXIT.IO, { details: { tokenId: id } });
    }
    const revoked = await keyward.tokens.revoke(id, actorOf(ctx.values)).then(
      () => "it is revoked",
      () => `it could not be revoked: revoke it (keyward revoke ${id})`,
    );
    throw new CliError(`${why}: token ${id} was not shown and nobody has it; ${revoked}`, EXIT.IO, { details: { tokenId: id } });
  }
  if (!ctx.values.json) ctx.io.err(`token ${id} (${kind}); this is the only time it is shown: store it now\n`);
}

/**
 * A rerun of `create --idempotency-key`: the token the first run made, as it
 * is now, never its secret (keyward keeps none); exit 7, so that a script
 * that reads stdout as the token notices.
 */
async function printReplayed(ctx: CommandContext, record: TokenRecord): Promise<number> {
  if (ctx.values.json) json(ctx.io, { token: null, replayed: true, record });
  else {
    printRecord(ctx.io, record);
    const { id } = record;
    ctx.io.err(
      `keyward create: token ${id} was made by an earlier run with this --idempotency-key: its secret was printed then and is not available again (keyward keeps none). Lost? Revoke it (keyward revoke ${id}) and create another with a new key\n`,
    );
  }
  await ctx.io.flushOut?.();
  return EXIT.REPLAYED;
}

/** Refuses to issue a token onto a stdout that is the null device, before anything is done: nobody would have it. */
function refuseNullOut(io: Io): void {
  if (io.outIsNull) throw new CliError("stdout is /dev/null (or closed): the token would be shown to nobody; nothing was done", EXIT.IO);
}

const PAGE = {
  limit: { type: "string", value: "n", description: "page size, 1 to 1000 (default 100)" },
  cursor: { type: "string", value: "cursor", description: "next page, from the previous output" },
} as const;

/** The library's page settings, by the options that give them: an error about one names its option. */
const PAGE_SETTINGS = { limit: "limit", cursor: "cursor" } as const;

/** `--limit` / `--cursor` as page options. */
function pageOf(values: Values): { limit?: number; cursor: string | null } {
  const cursor = typeof values.cursor === "string" ? values.cursor : null;
  return typeof values.limit === "string" ? { limit: parseCount(values.limit, "limit"), cursor } : { cursor };
}

/** A page as JSON, or as lines and the command for the next page. */
function printPage<T>(ctx: CommandContext, page: { items: T[]; nextCursor: string | null }, toLine: (item: T) => string): void {
  if (ctx.values.json) {
    json(ctx.io, page);
    return;
  }
  for (const item of page.items) line(ctx.io, toLine(item));
  if (page.nextCursor) line(ctx.io, `next page: --cursor ${page.nextCursor}`);
}

export const actorOf = (values: Values) => ({ actor: typeof values.actor === "string" ? values.actor : "cli" });

export const create: Command = {
  summary: "Issue a token and print it once.",
  options: {
    owner: { type: "string", value: "id", description: "owner (account) id, required" },
    kind: { type: "string", value: "kind", description: "publishable or secret (default secret)" },
    hmac: { type: "boolean", description: "sign requests with a key derived from the token (needs KEYWARD_SEALING_KEY)" },
    "idempotency-key": { type: "string", value: "key", description: "make one token for this key: run again, it prints that token without its secret (exit 7)" },
    ...SETTINGS,
    ...ACTOR,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { ...SETTING_OPTIONS, idempotencyKey: "idempotency-key" },
  run: async (ctx) => {
    positional(ctx, []);
    const kind = ctx.values.kind ?? "secret";
    if (kind !== "publishable" && kind !== "secret") throw new CliError("--kind must be publishable or secret", EXIT.USAGE);
    const owner = required(ctx.values, "owner");
    const flags = creditsFlags(ctx.values);
    const credits = flags && creditsInput(flags, null);
    refuseNullOut(ctx.io);
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      const input = { owner, kind, ...settings(ctx.values, Date.now()) } as Parameters<typeof keyward.tokens.create>[0];
      if (credits) input.credits = credits;
      if (ctx.values.hmac === true) input.signing = { alg: "hmac-sha256" };
      const key = ctx.values["idempotency-key"];
      const made = await keyward.tokens.create(input, { ...actorOf(ctx.values), idempotencyKey: typeof key === "string" ? key : undefined }).catch((err: unknown) => {
        if (!isKeywardError(err, "IDEMPOTENCY_KEY_REUSED")) throw err;
        const message = "--idempotency-key was used for another request (other options): nothing was made; give this one a new key";
        throw new CliError(message, EXIT.REFUSED, { code: err.code, details: { option: "--idempotency-key" } });
      });
      if (made.token === null) return printReplayed(ctx, made.record);
      await printIssued(ctx, keyward, made, "revoke");
      return EXIT.OK;
    });
  },
};

export const list: Command = {
  summary: "List an owner's tokens (no secrets: ids and starts only).",
  options: {
    owner: { type: "string", value: "id", description: "owner id, required" },
    "expiring-before": { type: "string", value: "time", description: "only tokens that expire before: ISO-8601 time or +duration (e.g. +7d)" },
    "unused-since": { type: "string", value: "time", description: "only tokens not used since: ISO-8601 time, or a duration ago (e.g. 90d)" },
    ...PAGE,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: PAGE_SETTINGS,
  run: async (ctx) => {
    positional(ctx, []);
    const owner = required(ctx.values, "owner");
    const now = Date.now();
    const options: ListTokensOptions = pageOf(ctx.values);
    const before = ctx.values["expiring-before"];
    if (typeof before === "string") options.expiringBefore = parseTime(before, "expiring-before", now);
    const since = ctx.values["unused-since"];
    if (typeof since === "string") options.unusedSince = parseSince(since, "unused-since", now).at;
    return withStore(ctx, { create: false, readsOnly: true }, async ({ keyward }) => {
      const page = await keyward.tokens.list(owner, options);
      const at = Date.now();
      printPage(ctx, page, (r) => `${r.id}  ${`${r.start}…`.padEnd(18)} ${r.kind.padEnd(11)} ${statusOf(r, at).padEnd(8)}  ${r.name}`);
      if (page.items.length === 0 && !ctx.values.json) ctx.io.err("no tokens\n");
      return EXIT.OK;
    });
  },
};

/** Reads one token by id, or fails with `TOKEN_NOT_FOUND` (exit 3), as the library's own calls on an id do. */
export async function load(keyward: import("../index.js").Keyward, id: string): Promise<TokenRecord> {
  const record = await keyward.tokens.get(id);
  if (!record) throw new TokenNotFoundError(isTokenId(id) ? id : "");
  return record;
}

export const show: Command = {
  summary: "Show a token's settings and status.",
  args: "<id>",
  options: { ...STORE_OPTIONS, ...COMMON },
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    return withStore(ctx, { create: false, readsOnly: true }, async ({ keyward }) => {
      const record = await load(keyward, id!);
      if (ctx.values.json) json(ctx.io, record);
      else printRecord(ctx.io, record);
      return EXIT.OK;
    });
  },
};

/**
 * An expiry that an update sets must come after now and after the change applies. The library takes an
 * earlier one (an application may expire a token now), but typed here it is likelier a slip (`+0s`, a
 * past date) that would stop a working token without a word, exit 0; `create` refuses it too. A token
 * is stopped now by `disable` (undone by `enable`) or `revoke`.
 */
function checkExpiry(expiresAt: UpdateTokenInput["expiresAt"], effectiveAt: number | undefined, now: number): void {
  if (typeof expiresAt !== "number") return;
  if (effectiveAt !== undefined && effectiveAt > now && expiresAt <= effectiveAt) throw new InvalidInputError("expiresAt", "must be after --effective-at");
  if (expiresAt <= now) throw new InvalidInputError("expiresAt", "must be in the future", { hint: "to stop a token now, disable it (enable undoes it) or revoke it" });
}

export const update: Command = {
  summary: "Change a token's settings; policy changes apply at --effective-at.",
  args: "<id>",
  options: {
    ...SETTINGS,
    "effective-at": { type: "string", value: "time", description: "when policy changes apply: ISO-8601 or +duration" },
    ...ACTOR,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { ...SETTING_OPTIONS, effectiveAt: "effective-at" },
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    const now = Date.now();
    const patch = settings(ctx.values, now);
    const credits = creditsFlags(ctx.values);
    if (Object.keys(patch).length === 0 && !credits) throw new CliError("nothing to change: give at least one setting", EXIT.USAGE);
    const effectiveAt = typeof ctx.values["effective-at"] === "string" ? parseTime(ctx.values["effective-at"], "effective-at", now) : undefined;
    checkExpiry(patch.expiresAt, effectiveAt, now);
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      const options: UpdateTokenOptions = { ...actorOf(ctx.values), ...(effectiveAt !== undefined && { effectiveAt }) };
      if (credits) {
        // Merged with the allowance in force when the change applies; a change made meanwhile is REVISION_CONFLICT.
        const current = await load(keyward, id!);
        const at = effectiveAt ?? now;
        const inForce = policyAt(current, at).credits;
        // The merged allowance would replace the credits of every later revision too (as any patch does):
        // a credit change scheduled after `at` would be cancelled without a word.
        const cancelled = current.scheduled.filter((s) => s.effectiveAt > at && creditsRow(s.policy.credits) !== creditsRow(inForce)).at(-1);
        if (cancelled) {
          throw new CliError(
            `a change of credits is scheduled at ${iso(cancelled.effectiveAt)}, which this update would cancel: ` +
              `give --effective-at ${iso(cancelled.effectiveAt)} or later (show lists the scheduled changes)`,
            EXIT.USAGE,
          );
        }
        patch.credits = creditsInput(credits, inForce);
        options.expectedRevision = current.revision;
      }
      const record = await keyward.tokens.update(id!, patch, options);
      if (ctx.values.json) json(ctx.io, record);
      else printRecord(ctx.io, record);
      return EXIT.OK;
    });
  },
};

export const revoke: Command = {
  summary: "Revoke a token at once (idempotent).",
  args: "<id>",
  options: { ...ACTOR, ...STORE_OPTIONS, ...COMMON },
  settings: ACTOR_SETTING,
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      const record = await keyward.tokens.revoke(id!, actorOf(ctx.values));
      if (ctx.values.json) json(ctx.io, record);
      else line(ctx.io, `revoked ${record.id} at ${iso(record.revokedAt)}`);
      return EXIT.OK;
    });
  },
};

/** A command that changes one token's state by id and prints it: disable, enable. */
function stateCommand(summary: string, done: string, change: (kw: import("../index.js").Keyward, id: string, actor: { actor: string }) => Promise<TokenRecord>): Command {
  return {
    summary,
    args: "<id>",
    options: { ...ACTOR, ...STORE_OPTIONS, ...COMMON },
    settings: ACTOR_SETTING,
    run: async (ctx) => {
      const [id] = positional(ctx, ["id"]);
      return withStore(ctx, { create: false }, async ({ keyward }) => {
        const record = await change(keyward, id!, actorOf(ctx.values));
        if (ctx.values.json) json(ctx.io, record);
        else line(ctx.io, `${done} ${record.id}`);
        return EXIT.OK;
      });
    },
  };
}

export const disable = stateCommand("Disable a token (denied TOKEN_DISABLED until enabled again; audited).", "disabled", (kw, id, a) =>
  kw.tokens.disable(id, a),
);

export const enable = stateCommand("Enable a disabled token again (audited).", "enabled", (kw, id, a) => kw.tokens.enable(id, a));

export const remove: Command = {
  summary: "Delete a token for good: its record, counters and usage (audited). Needs --yes.",
  args: "<id>",
  options: { yes: { type: "boolean", description: "confirm: this cannot be undone" }, ...ACTOR, ...STORE_OPTIONS, ...COMMON },
  settings: ACTOR_SETTING,
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    if (ctx.values.yes !== true) throw new CliError("delete cannot be undone: add --yes (or revoke the token instead)", EXIT.USAGE);
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      const result = await keyward.tokens.delete(id!, actorOf(ctx.values));
      if (ctx.values.json) json(ctx.io, result);
      else line(ctx.io, `deleted ${result.id} (${Object.entries(result.removed).map(([k, n]) => `${n} ${k}`).join(", ")})`);
      return EXIT.OK;
    });
  },
};

export const regenerate: Command = {
  summary: "Replace a token's secret (same id and settings) and print the new one once.",
  args: "<id>",
  options: {
    grace: { type: "string", value: "duration", description: "how long the old secret keeps working (default 0)" },
    ...ACTOR,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { graceMs: "grace", ...ACTOR_SETTING },
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    const graceMs = typeof ctx.values.grace === "string" ? parseDuration(ctx.values.grace, "grace") : 0;
    refuseNullOut(ctx.io);
    return withStore(ctx, { create: false }, async ({ store, keyward }) => {
      const prefix = await regeneratedPrefix(ctx, keyward, id!);
      const issuer = prefix === undefined ? keyward : keywardOver(ctx, store, { create: false }, prefix);
      try {
        await printIssued(ctx, issuer, await issuer.tokens.regenerate(id!, { graceMs, ...actorOf(ctx.values) }), "keep");
      } finally {
        if (issuer !== keyward) await issuer.close();
      }
      return EXIT.OK;
    });
  },
};

export const reseal: Command = {
  summary: "Seal HMAC signing keys anew under the first KEYWARD_SEALING_KEY: one token, or every token of an owner.",
  args: "[<id>]",
  options: { owner: { type: "string", value: "id", description: "every token of this owner" }, ...ACTOR, ...STORE_OPTIONS, ...COMMON },
  settings: ACTOR_SETTING,
  run: async (ctx) => {
    if (ctx.positionals.length > 1) throw new CliError(`expected [<id>], got ${ctx.positionals.length} arguments`, EXIT.USAGE);
    const id = ctx.positionals[0];
    const owner = typeof ctx.values.owner === "string" ? ctx.values.owner : undefined;
    if ((id === undefined) === (owner === undefined)) throw new CliError("reseal takes a token id or --owner, one of the two", EXIT.USAGE);
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      const ids: string[] = [];
      if (id !== undefined) ids.push(id);
      else {
        let cursor: string | null = null;
        do {
          const page = await keyward.tokens.list(owner!, { cursor, limit: 100 });
          for (const r of page.items) ids.push(r.id);
          cursor = page.nextCursor;
        } while (cursor !== null);
      }
      let keys = 0;
      let tokens = 0;
      for (const each of ids) {
        const { resealed } = await keyward.tokens.reseal(each, actorOf(ctx.values));
        keys += resealed;
        if (resealed > 0) tokens++;
      }
      if (ctx.values.json) json(ctx.io, { tokens: ids.length, resealedTokens: tokens, resealedKeys: keys });
      else line(ctx.io, `resealed ${keys} key${keys === 1 ? "" : "s"} of ${tokens} of ${ids.length} token${ids.length === 1 ? "" : "s"}`);
      return EXIT.OK;
    });
  },
};

/**
 * The prefix a regenerated token keeps: its own, read from its start
 * (`acme_sk_live_…`), unless `$KEYWARD_PREFIX` names one (a rename, as the
 * library's instance prefix does). With the CLI's default `kw` instead, an
 * `acme_` token came back as `kw_…`, which the application's verifier
 * refuses, and its old secret was gone. Undefined: the CLI's own prefix.
 */
async function regeneratedPrefix(ctx: CommandContext, keyward: Keyward, id: string): Promise<string | undefined> {
  if (ctx.io.env.KEYWARD_PREFIX) return undefined;
  const record = await keyward.tokens.get(id);
  // No such token: regenerate says so.
  if (record === null) return undefined;
  const own = /^([a-z][a-z0-9]{0,15})_(?:pk|sk)_(?:live|test)_/.exec(record.start)?.[1];
  if (own === undefined) {
    throw new CliError(`${id} is an imported key without a keyward prefix: set KEYWARD_PREFIX to the prefix your application accepts to regenerate it`, EXIT.USAGE);
  }
  return own;
}

export const audit: Command = {
  summary: "Print the audit log of a token or an owner (oldest first).",
  options: {
    token: { type: "string", value: "id", description: "a token's id" },
    owner: { type: "string", value: "id", description: "an owner's id" },
    ...PAGE,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: PAGE_SETTINGS,
  run: async (ctx) => {
    positional(ctx, []);
    const { token, owner } = ctx.values;
    if ((typeof token === "string") === (typeof owner === "string")) throw new CliError("give exactly one of --token or --owner", EXIT.USAGE);
    const filter = typeof token === "string" ? { tokenId: token } : { owner: owner as string };
    const options = pageOf(ctx.values);
    return withStore(ctx, { create: false, readsOnly: true }, async ({ keyward }) => {
      printPage(ctx, await keyward.tokens.audit(filter, options), auditLine);
      return EXIT.OK;
    });
  },
};

function auditLine(e: AuditEntry): string {
  const when = e.effectiveAt !== undefined ? ` effective ${iso(e.effectiveAt)}` : "";
  const grace = e.graceUntil !== undefined ? ` old secret until ${iso(e.graceUntil)}` : "";
  const reason = e.reason !== undefined ? ` reason ${JSON.stringify(e.reason)}` : "";
  // A member's id may hold "=", "," or spaces: quoted, it names one member (entries written before `member` have the text only).
  const changes = e.member === undefined ? e.changes.join(",") : e.memberRole == null ? `remove ${JSON.stringify(e.member)}` : `${JSON.stringify(e.member)}=${e.memberRole}`;
  return `${iso(e.at)}  ${e.action.padEnd(10)} ${e.tokenId}  by ${e.actor}  ${changes}${when}${grace}${reason}`;
}

export const lifecycle: Command = {
  summary: "Report an owner's tokens that expired, expire soon, are due for rotation, unused or beyond a maximum lifetime (no timer: run it daily).",
  options: {
    owner: { type: "string", value: "id", description: "owner id, required" },
    "expiring-within": { type: "string", value: "duration", description: "how far ahead counts as expiring soon (default 7d)" },
    "rotation-period": { type: "string", value: "duration", description: "a secret older than this is due for rotation (default: the account's, if any)" },
    "unused-after": { type: "string", value: "duration", description: "no allowed request for this long is unused (e.g. 90d)" },
    "max-lifetime": {
      type: "string",
      value: "duration",
      description: "a token that never expires, or expires later than this from now, exceeds it (default: the account's, if any)",
    },
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: {
    "tokens.maxLifetimeMs": "max-lifetime",
    "tokens.expiringSoonMs": "expiring-within",
    "tokens.rotationPeriodMs": "rotation-period",
    "tokens.unusedAfterMs": "unused-after",
  },
  run: async (ctx) => {
    positional(ctx, []);
    const owner = required(ctx.values, "owner");
    const duration = (name: string) => {
      const v = ctx.values[name];
      return typeof v === "string" ? parseDuration(v, name) : undefined;
    };
    const soon = duration("expiring-within");
    const rotation = duration("rotation-period");
    const unused = duration("unused-after");
    const max = duration("max-lifetime");
    const tokens = {
      ...(max !== undefined && { maxLifetimeMs: max }),
      ...(soon !== undefined && { expiringSoonMs: soon }),
      ...(rotation !== undefined && { rotationPeriodMs: rotation }),
      ...(unused !== undefined && { unusedAfterMs: unused }),
    };
    return withStore(ctx, { create: false, readsOnly: true, tokens }, async ({ keyward }) => {
      const events = [];
      for await (const e of keyward.tokens.scan(owner)) events.push(e);
      if (ctx.values.json) json(ctx.io, events);
      else if (events.length === 0) line(ctx.io, "nothing to report");
      else {
        // An event that follows from a scheduled change names it: the record's expiry in force says otherwise.
        for (const e of events) line(ctx.io, `${e.type.padEnd(17)} ${e.tokenId}  ${iso(e.at)}${e.effectiveAt === undefined ? "" : `  by the change effective ${iso(e.effectiveAt)}`}`);
      }
      return EXIT.OK;
    });
  },
};
