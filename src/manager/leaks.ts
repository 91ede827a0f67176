// Answering a leak: a token seen in public (a repository, a paste, a log) is
// revoked, or by policy flagged, and the action is audited as `leak`.
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { cleanText, redactTokens, tokenShapedSpans } from "../lib/text.js";
import { auditId } from "../model/audit-id.js";
import { hashesOf, readTime } from "../model/record.js";
import { actorSchema, checkOptionFields, parseInput } from "../model/schemas.js";
import type { AuditEntry, Page, StoredToken } from "../model/types.js";
import type { GuardedStore } from "../store/guard.js";
import { encodeCursor, MAX_PAGE_LIMIT } from "../store/kit/page.js";
import { hashToken, type TokenKind, wellFormedPrefixLength } from "../token/format.js";
import { lookupable } from "../token/lookupable.js";
import { type TokenChanged, written } from "./written.js";

/** Options of {@link TokenManager.reportLeak}. */
export interface ReportLeakOptions {
  /** Who found it, e.g. `"github"`, `"pastebin"`, `"support"`: 1 to 64 of `a-z 0-9 . _ : -`. */
  source: string;
  /**
   * Where it was seen (kept in the audit entry with the reported token, an
   * imported legacy key too, and anything shaped like a keyward token
   * redacted, as it is or percent-encoded; at most 2 048 characters).
   */
  url?: string | undefined;
  /** `"revoke"` (default): the token stops working; `"flag"`: audited only, for a person to decide. */
  action?: "revoke" | "flag" | undefined;
  /**
   * What to do when the token found is publishable (default `action`). The
   * GitHub receiver passes `"flag"`: publishable tokens are public by design,
   * and an imported one's string does not say it is publishable.
   */
  publishable?: "revoke" | "flag" | undefined;
  /** Who acts, for the audit log (default `leak:<source>`). */
  actor?: string | undefined;
}

/** What {@link TokenManager.reportLeak} did. */
export interface LeakReport {
  /**
   * `revoked`: it was live and is now revoked (by this report, or by a revoke
   * made while it ran: its `leak` entry is kept either way); `flagged`: audited, left working;
   * `inactive`: already revoked or rotated out (nothing done); `unknown`: not a
   * token of this store (nothing done). An imported legacy key is a token of
   * this store when `acceptForeignTokens` describes it, as for the verifier.
   */
  outcome: "revoked" | "flagged" | "inactive" | "unknown";
  /** The token's id, or null when unknown. */
  tokenId: string | null;
  /** The token's owner, to notify, or null when unknown. */
  owner: string | null;
  /** The token's kind as stored (`"secret"` or `"publishable"`), or null when unknown. */
  kind: TokenKind | null;
}

const SOURCE = /^[a-z0-9._:-]{1,64}$/;
const MAX_URL = 2048;

/** @internal Told of every live token reported as leaked (the anomaly detector's `leaked`). */
export type LeakListener = (at: number, tokenId: string, owner: string, source: string) => void;

/** What a leaked token is given when the report names no `action`: revoked. */
export const DEFAULT_LEAK_ACTION = "revoke";

/** The fields of {@link ReportLeakOptions}: a misspelt one (`publishabel`) is refused, never ignored. */
const REPORT_OPTIONS = ["source", "url", "action", "publishable", "actor"] as const;

/**
 * Reports a leaked token. Untrusted input (the token string) never throws:
 * anything that is not a live token of this store is `unknown` or `inactive`.
 *
 * @internal reached as `kw.tokens.reportLeak`
 */
export async function reportLeak(
  cfg: ResolvedConfig,
  changed: TokenChanged,
  token: string,
  options: ReportLeakOptions,
  leaked: LeakListener = () => {},
): Promise<LeakReport> {
  if (typeof token !== "string") throw new TypeError("token must be a string");
  checkOptionFields(options, REPORT_OPTIONS);
  const { source, url, action = DEFAULT_LEAK_ACTION, publishable = action } = options;
  if (typeof source !== "string" || !SOURCE.test(source)) throw new InvalidInputError("source", "must be 1 to 64 of a-z 0-9 . _ : -");
  if (url !== undefined && (typeof url !== "string" || url.length > MAX_URL)) {
    throw new InvalidInputError("url", `must be a string of at most ${MAX_URL} characters`);
  }
  if (action !== "revoke" && action !== "flag") throw new InvalidInputError("action", 'must be "revoke" or "flag"');
  if (publishable !== "revoke" && publishable !== "flag") throw new InvalidInputError("publishable", 'must be "revoke" or "flag"');
  const actor = parseInput(actorSchema, options.actor ?? `leak:${source}`, "actor");

  // The verifier's rule: a legacy key it accepts (`acceptForeignTokens`) is found too.
  if (!lookupable(cfg, token)) return unknown();
  const hash = hashToken(token);
  const stored = await cfg.store.findByHash(hash);
  if (stored === null) return unknown();
  // Judged as every server judges it, and revoked, at no earlier than its last write (SECURITY.md, "Clocks").
  const now = readTime(stored, cfg.now());
  const found = { tokenId: stored.id, owner: stored.owner, kind: stored.kind };
  if (stored.revokedAt !== null || !worksNow(stored, hash, now)) return { outcome: "inactive", ...found };
  const act = stored.kind === "publishable" ? publishable : action;

  const entry: AuditEntry = {
    id: auditId(now, cfg.random),
    at: now,
    actor,
    action: "leak",
    tokenId: stored.id,
    owner: stored.owner,
    changes: [...(act === "revoke" ? ["revokedAt"] : []), `source:${source}`, ...(url ? [`url:${shownUrl(cfg, url, token)}`] : [])],
  };
  if (act === "flag") {
    await cfg.store.appendAudit(entry);
    leaked(now, stored.id, stored.owner, source);
    return { outcome: "flagged", ...found };
  }
  // The revocation and its `leak` audit entry are one transaction (the store contract), but the store
  // appends the entry only if this revoke revokes the token: one made since the read above (a console's,
  // another report's) may have. The report of a token that was live is kept all the same, without
  // claiming the revocation, so the log still says where the token was seen.
  const saved = await written(changed, stored.id, hashesOf(stored), () => cfg.store.revoke(stored.id, now, entry));
  if (!(await revokedHere(cfg.store, stored, saved, entry))) {
    await cfg.store.appendAudit({ ...entry, changes: entry.changes.filter((c) => c !== "revokedAt") });
  }
  leaked(now, stored.id, stored.owner, source);
  return { outcome: "revoked", ...found };
}

/**
 * Whether the revoke that answered `saved` revoked the token, and so appended
 * `entry`: certain when nothing was written since `read` (a revoke moves the
 * revision by one); otherwise the audit log says, from the entry's time on.
 */
async function revokedHere(store: GuardedStore, read: StoredToken, saved: StoredToken, entry: AuditEntry): Promise<boolean> {
  if (saved.revision === read.revision + 1) return true;
  let cursor: string | null = encodeCursor("a", { t: entry.at, id: "" });
  while (cursor !== null) {
    const page: Page<AuditEntry> = await store.listAudit({ tokenId: read.id }, { limit: MAX_PAGE_LIMIT, cursor });
    if (page.items.some((e) => e.id === entry.id)) return true;
    // Ordered by (at, id): past the entry's time, it is not there.
    if (page.items.some((e) => e.at > entry.at)) return false;
    cursor = page.nextCursor;
  }
  return false;
}

/**
 * Where a leak was seen, as its audit entry keeps it: the reported token
 * redacted wherever the URL has it, keeping only its kind and environment
 * (an imported legacy key, only the prefix `acceptForeignTokens` gives),
 * and anything else shaped like a keyward token too (another token in the
 * same URL may be live), each as it is or percent-encoded in any way
 * (`%5F` or `%5f` for `_`, every character or some); unsafe characters
 * escaped.
 */
function shownUrl(cfg: Pick<ResolvedConfig, "acceptForeignTokens">, url: string, token: string): string {
  const foreign = cfg.acceptForeignTokens;
  return redactedUrl(url, token, foreign === false ? "" : foreign.prefix);
}

/**
 * A URL where `token` was seen, as {@link shownUrl} shows it; a token that
 * is not keyward's (an imported legacy key) is shown as `foreignPrefix`
 * then `[redacted]`.
 *
 * @internal Also what createLeakReceiver hands `onLeak` (the prefix read from its Keyward instance).
 */
export function redactedUrl(url: string, token: string, foreignPrefix = ""): string {
  const replacement = wellFormedPrefixLength(token) < 0 ? `${foreignPrefix}[redacted]` : redactTokens(token);
  // The URL and the tokens compared as bytes: a %XX escape is its byte, any other character its UTF-8.
  const { bytes, ends } = urlBytes(url);
  const wanted = latin1(new TextEncoder().encode(token));
  const spans = [...tokenShapedSpans(bytes)];
  for (let at = bytes.indexOf(wanted); at >= 0; at = bytes.indexOf(wanted, at + wanted.length)) {
    spans.push({ start: at, end: at + wanted.length, redacted: replacement });
  }
  // In order; a span that overlaps the one before (the reported token is token-shaped too) widens it.
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  let shown = "";
  let from = 0;
  for (const span of spans) {
    // The characters whose bytes start at `span.start` and end the span.
    const start = span.start === 0 ? 0 : ends[span.start - 1]!;
    const end = ends[span.end - 1]!;
    if (start < from) from = Math.max(from, end);
    else {
      shown += url.slice(from, start) + span.redacted;
      from = end;
    }
  }
  return cleanText(shown + url.slice(from), true);
}

/** `url` as bytes (Latin-1 characters: a %XX escape its byte, any other character its UTF-8), and where each byte's character ends in `url`. */
function urlBytes(url: string): { bytes: string; ends: number[] } {
  const encoder = new TextEncoder();
  let bytes = "";
  const ends: number[] = [];
  for (let i = 0; i < url.length; ) {
    const escaped = url[i] === "%" && /^[0-9a-f]{2}$/i.test(url.slice(i + 1, i + 3));
    const char = escaped ? url.slice(i, i + 3) : String.fromCodePoint(url.codePointAt(i)!);
    const got = escaped ? String.fromCharCode(Number.parseInt(char.slice(1), 16)) : latin1(encoder.encode(char));
    i += char.length;
    bytes += got;
    for (let k = 0; k < got.length; k++) ends.push(i);
  }
  return { bytes, ends };
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** The presented secret is the current one, or an old one still in its grace period. */
function worksNow(stored: StoredToken, hash: string, now: number): boolean {
  return stored.hash === hash || stored.previous.some((p) => p.hash === hash && p.expiresAt > now);
}

function unknown(): LeakReport {
  return { outcome: "unknown", tokenId: null, owner: null, kind: null };
}
