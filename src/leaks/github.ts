// A receiver for GitHub secret scanning partner alerts: GitHub POSTs the
// tokens it found in public, signed with ECDSA P-256 over the raw body
// (headers Github-Public-Key-Identifier and Github-Public-Key-Signature);
// the answer labels each token true_positive or false_positive.
// https://docs.github.com/en/code-security/secret-scanning/secret-scanning-partnership-program/secret-scanning-partner-program
import { BoundedMap } from "../lib/bounded-map.js";
import { fromBase64, fromUtf8, toHex } from "../lib/bytes.js";
import { checkOptionNames, optionNames } from "../lib/options.js";
import { callHook } from "../lib/hook.js";
import { readStream, withDeadline } from "../lib/read-stream.js";
import { foreignTokenPrefix, type Keyward } from "../keyward.js";
import { DEFAULT_LEAK_ACTION, type LeakReport, redactedUrl } from "../manager/leaks.js";
import { derToP1363, isP256PublicKey } from "./der.js";

/** One of GitHub's signing keys, as https://api.github.com/meta/public_keys/secret_scanning lists them. */
export interface GitHubPublicKey {
  key_identifier: string;
  /** PEM SubjectPublicKeyInfo of an ECDSA P-256 key. */
  key: string;
}

/** Options of {@link createLeakReceiver}. */
export interface LeakReceiverOptions {
  /** The `Keyward` whose tokens are checked and revoked. */
  keyward: Keyward;
  /**
   * The keys that may sign alerts: a list (at least one key, used as is), or
   * a function that loads GitHub's list, called on the first alert and again
   * when an alert names a key it does not hold or the list is older than
   * `keyMaxAgeMs`, at most once per `refreshIntervalMs` and one call at a time. A call that has not settled
   * within `keyLoadTimeoutMs` is abandoned when the next one starts: its
   * `signal` is aborted then (pass it to `fetch`), and its answer ignored.
   */
  publicKeys: readonly GitHubPublicKey[] | ((signal: AbortSignal) => Promise<readonly GitHubPublicKey[]>);
  /** Least time between two calls of a `publicKeys` function, ms (default 300 000: 5 minutes). */
  refreshIntervalMs?: number | undefined;
  /**
   * Longest trust in a list a `publicKeys` function gave, ms (default 3 600 000:
   * 1 hour): an alert after then waits for the list to be loaded again (as
   * for a key not held), so a key GitHub no longer lists (rotated out,
   * revoked) is refused. Should that load fail or be late, the keys held
   * are used (once it is late, at once).
   */
  keyMaxAgeMs?: number | undefined;
  /**
   * Longest wait of an alert for a load of `publicKeys`, ms (default 5 000):
   * later, the alert is answered 503 (GitHub retries it), and the load goes
   * on for the alerts after it, until `refreshIntervalMs` has passed since it
   * started: then the next alert under a key not held starts another.
   */
  keyLoadTimeoutMs?: number | undefined;
  /**
   * Called when a `publicKeys` function fails (its error; the keys loaded
   * before are kept), has not settled within `keyLoadTimeoutMs` (an Error
   * saying so, once per call) or gives a key this receiver cannot use (a
   * TypeError naming it; the key is left out). Errors are ignored.
   */
  onKeyError?: ((error: unknown) => void) | undefined;
  /** What to do with a live secret token found in public (default `"revoke"`). Publishable tokens are only flagged. */
  action?: "revoke" | "flag" | undefined;
  /** The `token_type` you registered with GitHub, echoed in answers (default `"keyward_secret_token"`). */
  tokenType?: string | undefined;
  /**
   * Called once per token acted on (revoked or flagged), to notify its owner,
   * with the match's `url` as the audit entry keeps it (tokens redacted, as
   * in docs/leaks.md) and its `source`.
   * No revocation waits for it: the calls of an alert run as its tokens are
   * acted on, and its answer waits for them all (the same alert sent again
   * meanwhile is answered once its tokens are acted on). Errors, thrown or
   * rejected, are ignored.
   */
  onLeak?: ((report: LeakReport & { url: string | null; source: string | null }) => void | Promise<void>) | undefined;
  /** Largest accepted body, bytes (default 1 MiB). */
  maxBodyBytes?: number | undefined;
  /** Longest wait for the body to end, ms (default 10 000): a slower one is refused with 408, unread past then. */
  bodyTimeoutMs?: number | undefined;
  /** Most matches in one alert (default 1 000). */
  maxMatches?: number | undefined;
  /** Alerts remembered to answer a replay without acting again (default 10 000). */
  maxRemembered?: number | undefined;
}

/** One entry of the answer (GitHub's documented feedback format). */
export interface LeakLabel {
  /** SHA-256 (hex) of the token: the token itself is never sent back. */
  token_hash: string;
  token_type: string;
  label: "true_positive" | "false_positive";
}

interface Match {
  token: string;
  type: string;
  url: string | null;
  source: string | null;
}

/** @internal The limits of {@link LeakReceiverOptions} when not given. */
export const LEAK_RECEIVER_DEFAULTS = Object.freeze({ maxBodyBytes: 1024 * 1024, bodyTimeoutMs: 10_000, maxMatches: 1000, maxRemembered: 10_000, refreshIntervalMs: 300_000, keyMaxAgeMs: 3_600_000, keyLoadTimeoutMs: 5000 });
/** @internal Default `tokenType`, echoed in answers. */
export const DEFAULT_TOKEN_TYPE = "keyward_secret_token";
const MAX_FIELD = 2048;

const LEAK_RECEIVER_OPTIONS = optionNames<LeakReceiverOptions>({ keyward: true, publicKeys: true, refreshIntervalMs: true, keyMaxAgeMs: true, keyLoadTimeoutMs: true, onKeyError: true, action: true, tokenType: true, onLeak: true, maxBodyBytes: true, bodyTimeoutMs: true, maxMatches: true, maxRemembered: true });

/**
 * A Fetch API handler for GitHub secret scanning partner alerts. An alert is
 * acted on only when its signature verifies against one of `publicKeys`; a
 * forged, malformed or oversized alert is refused (401, 400, 413) and changes
 * nothing. A replay of an alert already processed gets the same answer and
 * changes nothing more. Given a function, the receiver loads the keys itself,
 * and again (at most once per `refreshIntervalMs`) for an alert signed with a
 * key it does not hold, or once the keys are older than `keyMaxAgeMs`: a
 * rotation needs no restart, and a key GitHub drops stops being trusted.
 *
 * @param options the Keyward instance, GitHub's public keys (or how to load them), the action
 * @returns `(request) => Promise<Response>`
 * @throws {TypeError} for missing options, an option of another name, or an unusable key (one that is not an ECDSA P-256 public key in PEM)
 * @example
 * ```ts fragment
 * const receiver = createLeakReceiver({
 *   keyward: kw,
 *   publicKeys: async () => (await (await fetch("https://api.github.com/meta/public_keys/secret_scanning")).json()).public_keys,
 * });
 * // mount it: app.post("/leaks/github", (c) => receiver(c.req.raw));
 * ```
 */
export function createLeakReceiver(options: LeakReceiverOptions): (request: Request) => Promise<Response> {
  if (typeof options !== "object" || options === null || typeof options.keyward?.tokens?.reportLeak !== "function") {
    throw new TypeError("options.keyward must be a Keyward instance");
  }
  // A misspelt `action: "flag"` would revoke, a misspelt `onLeak` tell no one.
  checkOptionNames(options, LEAK_RECEIVER_OPTIONS, "createLeakReceiver");
  const { publicKeys } = options;
  if (typeof publicKeys !== "function" && (!Array.isArray(publicKeys) || publicKeys.length === 0)) {
    throw new TypeError("options.publicKeys must list at least one key, or be a function that loads them");
  }
  if (options.onKeyError !== undefined && typeof options.onKeyError !== "function") throw new TypeError("options.onKeyError must be a function");
  const limits: Record<keyof typeof LEAK_RECEIVER_DEFAULTS, number> = { ...LEAK_RECEIVER_DEFAULTS };
  for (const name of ["maxBodyBytes", "bodyTimeoutMs", "maxMatches", "maxRemembered", "refreshIntervalMs", "keyMaxAgeMs", "keyLoadTimeoutMs"] as const) {
    const v = options[name];
    if (v !== undefined) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`options.${name} must be a positive integer`);
      limits[name] = v;
    }
  }
  const action = options.action ?? DEFAULT_LEAK_ACTION;
  if (action !== "revoke" && action !== "flag") throw new TypeError('options.action must be "revoke" or "flag"');
  const tokenType = options.tokenType ?? DEFAULT_TOKEN_TYPE;
  const keyOf =
    typeof publicKeys === "function"
      ? loadedKeys(publicKeys, limits, (error) => callHook(options.onKeyError, error))
      : givenKeys(publicKeys);
  const answered = new BoundedMap<LeakLabel[]>(limits.maxRemembered);
  /** Alerts whose tokens are being acted on, by the digest of their body. */
  const processing = new Map<string, Promise<LeakLabel[] | null>>();
  const { keyward } = options;

  return async (request) => {
    if (request.method !== "POST") return answer(405, { error: "method not allowed" }, { allow: "POST" });
    const keyId = request.headers.get("github-public-key-identifier");
    const signature = fromBase64(request.headers.get("github-public-key-signature") ?? "");
    // A malformed signature is refused before its key is looked for (and perhaps loaded).
    const raw = signature && derToP1363(signature, 32);
    if (keyId === null || !raw || !request.body) return answer(401, { error: "signature missing or malformed" });
    const key = await keyOf(keyId);
    if (key === UNAVAILABLE) return answer(503, { error: "public keys unavailable" });
    if (key === null) return answer(401, { error: "key unknown" });
    const { body: stream } = request;
    const read = await withDeadline(limits.bodyTimeoutMs, (until) => readStream(stream, limits.maxBodyBytes, until)).catch(() => null);
    if (read === undefined) return answer(408, { error: "body too slow" });
    if (read === null) return answer(413, { error: "body too large or unreadable" });
    const body = new Uint8Array(read);
    let valid = false;
    try {
      valid = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, body);
    } catch {
      valid = false;
    }
    if (!valid) return answer(401, { error: "invalid signature" });
    const matches = parseMatches(body, limits.maxMatches);
    if (!matches) return answer(400, { error: "malformed alert" });

    // A replay of a processed alert (same body) gets the same answer and acts on nothing again; so does
    // one that comes while the first acts on its tokens (GitHub retrying an alert it thinks timed out).
    const digest = await sha256(body);
    const labels = answered.get(digest) ?? (await (processing.get(digest) ?? act(digest, matches)));
    return labels === null ? answer(503, { error: "store unavailable" }) : answer(200, labels);
  };

  /**
   * Acts on each match of an alert: its labels, remembered, or null when the
   * store failed on any (GitHub retries). A failure on one token holds back
   * none of the others: each is revoked as soon as it can be. The answer
   * waits for the owners to be told too; the same alert sent meanwhile waits
   * only for the tokens to be acted on, so a notification that never settles
   * holds back no retry of an alert the store failed.
   */
  function act(digest: string, matches: Match[]): Promise<LeakLabel[] | null> {
    // Owners are told as each token is acted on, but no revocation waits for a notification, nor
    // fails with one: the calls are awaited together, before the answer, whether they throw or not.
    const notified: Promise<void>[] = [];
    const acted = (async () => {
      const labels: LeakLabel[] = [];
      let failed = false;
      for (const m of matches) {
        // Publishable tokens are public by design: a sighting is flagged, never revoked (by the stored
        // kind: an imported key's string does not say it).
        const report = await keyward.tokens
          .reportLeak(m.token, { source: "github", ...(m.url !== null && { url: m.url }), action, publishable: "flag" })
          .catch(() => null);
        if (report === null) {
          failed = true;
          continue;
        }
        // The URL as the audit entry keeps it: a flagged token is still live, and onLeak's text goes to emails and logs.
        const url = m.url === null ? null : redactedUrl(m.url, m.token, foreignTokenPrefix(keyward));
        if (report.outcome === "revoked" || report.outcome === "flagged") notified.push(notify({ ...report, url, source: m.source }));
        labels.push({
          token_hash: await sha256(new TextEncoder().encode(m.token)),
          token_type: m.type || tokenType,
          label: report.outcome === "unknown" ? "false_positive" : "true_positive",
        });
      }
      if (failed) return null;
      answered.set(digest, labels);
      return labels;
    })();
    processing.set(digest, acted);
    const settled = () => void processing.delete(digest);
    acted.then(settled, settled);
    return acted.finally(() => Promise.all(notified));
  }

  async function notify(report: LeakReport & { url: string | null; source: string | null }): Promise<void> {
    try {
      await options.onLeak?.(report);
    } catch {}
  }
}

/** The answer of a key lookup when the keys could not be loaded. */
const UNAVAILABLE = Symbol("unavailable");

/** The signing key named `keyId`, null when there is none, or UNAVAILABLE. */
type KeyLookup = (keyId: string) => Promise<CryptoKey | null | typeof UNAVAILABLE>;

/** A fixed list of keys, each checked now: an unusable one throws. */
function givenKeys(list: readonly GitHubPublicKey[]): KeyLookup {
  const keys = importKeys(list, (error) => {
    throw error;
  });
  return async (keyId) => (await keys.get(keyId)) ?? null;
}

/**
 * Keys loaded by `load`: first when one is asked for, again when one not held
 * is asked for or the keys held were loaded `keyMaxAgeMs` ago or more (a held
 * key is then used only if that load fails or is late: a key dropped from the
 * list is refused), never twice within `intervalMs` (random key ids in forged
 * alerts cost at most one load per interval; lookups made while a load runs
 * wait for it, at most `keyLoadTimeoutMs`: then the key is UNAVAILABLE, and
 * the load goes on). A failed load, or one without a usable key, keeps the
 * keys loaded before; until a load succeeds, a key not held is UNAVAILABLE.
 * One load runs at a time: one still running after `keyLoadTimeoutMs` is
 * told to `report` once, and once the interval has passed since it started,
 * the next lookup of a key not held abandons it (its signal is aborted, its
 * answer ignored) and starts another.
 */
function loadedKeys(
  load: (signal: AbortSignal) => Promise<readonly GitHubPublicKey[]>,
  { refreshIntervalMs, keyMaxAgeMs, keyLoadTimeoutMs }: { refreshIntervalMs: number; keyMaxAgeMs: number; keyLoadTimeoutMs: number },
  report: (error: unknown) => void,
): KeyLookup {
  interface Load {
    abort: AbortController;
    done: Promise<void>;
    /** Told to `report` as late already. */
    late: boolean;
  }
  let keys = new Map<string, Promise<CryptoKey | null>>();
  /** When the load that gave `keys` started. */
  let keysLoadedAt = Number.NEGATIVE_INFINITY;
  /** The load running, if any: the only one whose answer is used. */
  let running: Load | null = null;
  let lastLoad = Number.NEGATIVE_INFINITY;
  let loaded = true;
  const start = (): void => {
    running?.abort.abort(new DOMException(`options.publicKeys() did not settle within keyLoadTimeoutMs (${keyLoadTimeoutMs} ms)`, "TimeoutError"));
    lastLoad = performance.now();
    const current: Load = { abort: new AbortController(), done: Promise.resolve(), late: false };
    running = current;
    current.done = (async () => {
      try {
        const list = await load(current.abort.signal);
        if (running !== current) return;
        if (!Array.isArray(list)) throw new TypeError("options.publicKeys() must resolve to a list of keys");
        const next = importKeys(list, report);
        if (next.size === 0) throw new TypeError("options.publicKeys() gave no usable key");
        keys = next;
        keysLoadedAt = lastLoad;
        loaded = true;
      } catch (error) {
        if (running !== current) return;
        report(error);
        loaded = false;
      } finally {
        if (running === current) running = null;
      }
    })();
  };
  return async (keyId) => {
    const held = keys.get(keyId);
    if (held && performance.now() - keysLoadedAt < keyMaxAgeMs) return held;
    const since = performance.now() - lastLoad;
    // A load running past keyLoadTimeoutMs is hung: once the interval allows, a new one replaces it.
    if (since >= refreshIntervalMs && (running === null || since >= keyLoadTimeoutMs)) start();
    const pending = running;
    // An expired key is used while its load is late: each alert would otherwise wait keyLoadTimeoutMs for it.
    if (held && pending?.late) return held;
    // A load that takes longer: GitHub retries the alert (503), or the expired key is used.
    if (pending !== null && (await withDeadline(keyLoadTimeoutMs, () => pending.done.then(() => true))) === undefined) {
      if (!pending.late && running === pending) {
        pending.late = true;
        report(new Error(`options.publicKeys() did not settle within keyLoadTimeoutMs (${keyLoadTimeoutMs} ms)`));
      }
      return held ?? UNAVAILABLE;
    }
    // Until a load succeeds, an unknown key may be a new one: unavailable (503, GitHub retries), not forged.
    return (await keys.get(keyId)) ?? (loaded ? null : UNAVAILABLE);
  };
}

/** The usable keys of `list` by id, imported for WebCrypto; `unusable` is told of each other one. */
function importKeys(list: readonly GitHubPublicKey[], unusable: (error: TypeError) => void): Map<string, Promise<CryptoKey | null>> {
  const keys = new Map<string, Promise<CryptoKey | null>>();
  for (const k of list) {
    if (typeof k?.key_identifier !== "string" || typeof k.key !== "string") {
      unusable(new TypeError("each public key needs key_identifier and key"));
      continue;
    }
    const der = pemToDer(k.key);
    if (!der || !isP256PublicKey(der)) {
      unusable(new TypeError(`public key ${k.key_identifier} is not an ECDSA P-256 public key in PEM (SubjectPublicKeyInfo)`));
      continue;
    }
    // Checked above, so it imports; were it refused, it would be as unknown (401).
    keys.set(
      k.key_identifier,
      crypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]).catch(() => null),
    );
  }
  return keys;
}

function parseMatches(body: Uint8Array, maxMatches: number): Match[] | null {
  let data: unknown;
  try {
    data = JSON.parse(fromUtf8(body));
  } catch {
    return null;
  }
  if (!Array.isArray(data) || data.length === 0 || data.length > maxMatches) return null;
  const out: Match[] = [];
  for (const item of data) {
    if (typeof item !== "object" || item === null) return null;
    const { token, type, url, source } = item as Record<string, unknown>;
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_FIELD) return null;
    if (typeof type !== "string" || type.length > 256) return null;
    if (url !== undefined && (typeof url !== "string" || url.length > MAX_FIELD)) return null;
    if (source !== undefined && (typeof source !== "string" || source.length > 256)) return null;
    out.push({ token, type, url: url ?? null, source: source ?? null });
  }
  return out;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

function pemToDer(pem: string): Uint8Array<ArrayBuffer> | null {
  const m = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(pem);
  const bytes = m ? fromBase64(m[1]!.replace(/\s+/g, "")) : null;
  return bytes && new Uint8Array(bytes);
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
