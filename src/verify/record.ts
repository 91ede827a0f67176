// Stage 4, record: every decision, allowed or not, becomes one usage event
// for the usage pipeline (queued; written and handed to hooks off the
// request path). Valid by construction, so a batch always stores.
import { detach } from "../lib/detach.js";
import type { DecisionEvent } from "../monitor/events.js";
import type { RequiredScopes } from "../policy/scope.js";
import type { Decision } from "./decision.js";

/** Longest scope list kept in a decision event (the route's, the application's text). */
const MAX_EVENT_TEXT = 2048;

/**
 * Longest Origin kept in a decision event: longer than any origin there is
 * (`https://`, a 253-character host and `:65535` make 267), so only what a
 * client made up is cut. The client's text: what a full usage queue, and
 * the origins anomaly detection remembers per token, hold of it.
 */
const MAX_EVENT_ORIGIN = 300;

/** What the request showed, as the event keeps it (`kw.check`'s input is one: absent fields are null, and it is not signed). */
export interface RequestShown {
  scope?: RequiredScopes | undefined;
  ip?: string | null | undefined;
  origin?: string | null | undefined;
  signed?: boolean;
}

/**
 * The usage event of a decision. `canonicalIp`: the form an address the
 * application gave is recorded in (`kw.check`'s; the address `kw.verify`
 * shows is canonical already), null for one that does not parse.
 */
export function usageEvent(d: Decision, shown: RequestShown, canonicalIp?: (ip: string) => string | null): DecisionEvent {
  const { scope, ip = null, origin = null } = shown;
  return {
    at: d.at,
    tokenId: d.tokenId,
    owner: d.owner,
    ok: d.ok,
    code: d.code,
    status: d.status,
    scope: scope === undefined ? null : scopeText(scope).slice(0, MAX_EVENT_TEXT),
    cost: d.cost,
    // The IP is the application's input and the Origin the client's (an
    // empty `Origin:` is a valid header): each a non-empty, bounded string
    // or null, so that one request can never make the store refuse a batch.
    ip: typeof ip === "string" && ip.length > 0 && ip.length <= 64 ? (canonicalIp === undefined ? ip : canonicalIp(ip)) : null,
    origin: typeof origin === "string" && origin.length > 0 ? cut(origin) : null,
    signed: shown.signed === true,
    pool: d.pool ?? null,
  };
}

/**
 * An Origin as an event keeps it: its first {@link MAX_EVENT_ORIGIN}
 * characters, as a string of their own. A queued event must not keep the
 * whole header alive (a view of it is what `slice` gives): the queue would
 * then hold `usage.maxQueue` headers of whatever size the client sent.
 */
function cut(origin: string): string {
  return origin.length > MAX_EVENT_ORIGIN ? detach(origin.slice(0, MAX_EVENT_ORIGIN)) : origin;
}

/** A route's scope requirement as one line of text, for usage events. */
function scopeText(scope: RequiredScopes): string {
  if (typeof scope === "string") return scope;
  if ("anyOf" in scope) return `anyOf(${scope.anyOf.join(" ")})`;
  return ("allOf" in scope ? scope.allOf : (scope as readonly string[])).join(" ");
}
