// A receiver for GitHub secret scanning partner alerts: GitHub POSTs the
// tokens it found in public, signed with ECDSA P-256 over the raw body
// (headers Github-Public-Key-Identifier and Github-Public-Key-Signature);
// the answer labels each token true_positive or false_positive.
// https://docs.github.com/en/code-security/secret-scanning/secret-scanning-partnership-program/secret-scanning-partner-program
import { BoundedMap } from "../lib/bounded-map.js";
import { fromBase64, fromUtf8, toHex } from "../lib/bytes.js";
import { readStream } from "../lib/read-stream.js";
import type { Keyward } from "../keyward.js";
import type { LeakReport } from "../manager/leaks.js";
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
  /** The keys that may sign alerts (GitHub's list, refreshed by you); at least one. */
  publicKeys: readonly GitHubPublicKey[];
  /** What to do with a live secret token found in public (default `"revoke"`). Publishable tokens are only flagged. */
  action?: "revoke" | "flag";
  /** The `token_type` you registered with GitHub, echoed in answers (default `"keyward_secret_token"`). */
  tokenType?: string;
  /** Called once per token acted on (revoked or flagged), to notify its owner. Errors are ignored. */
  onLeak?: (report: LeakReport & { url: string | null; source: string | null }) => void | Promise<void>;
  /** Largest accepted body, bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Most matches in one alert (default 1 000). */
  maxMatches?: number;
  /** Alerts remembered to answer a replay without acting again (default 10 000). */
  maxRemembered?: number;
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

const DEFAULTS = { maxBodyBytes: 1024 * 1024, maxMatches: 1000, maxRemembered: 10_000 };
const MAX_FIELD = 2048;

/**
 * A Fetch API handler for GitHub secret scanning partner alerts. An alert is
 * acted on only when its signature verifies against one of `publicKeys`; a
 * forged, malformed or oversized alert is refused (401, 400, 413) and changes
 * nothing. A replay of an alert already processed gets the same answer and
 * changes nothing more.
 *
 * @param options the Keyward instance, GitHub's public keys, the action
 * @returns `(request) => Promise<Response>`
 * @throws {TypeError} for missing options or an unusable key (one that is not an ECDSA P-256 public key in PEM)
 * @example
 * ```ts fragment
 * const receiver = createLeakReceiver({ keyward: kw, publicKeys: (await githubKeys()).public_keys });
 * // mount it: app.post("/leaks/github", (c) => receiver(c.req.raw));
 * ```
 */
export function createLeakReceiver(options: LeakReceiverOptions): (request: Request) => Promise<Response> {
  if (typeof options !== "object" || options === null || typeof options.keyward?.tokens?.reportLeak !== "function") {
    throw new TypeError("options.keyward must be a Keyward instance");
  }
  if (!Array.isArray(options.publicKeys) || options.publicKeys.length === 0) throw new TypeError("options.publicKeys must list at least one key");
  const limits = { ...DEFAULTS };
  for (const name of ["maxBodyBytes", "maxMatches", "maxRemembered"] as const) {
    const v = options[name];
    if (v !== undefined) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`options.${name} must be a positive integer`);
      limits[name] = v;
    }
  }
  const action = options.action ?? "revoke";
  if (action !== "revoke" && action !== "flag") throw new TypeError('options.action must be "revoke" or "flag"');
  const tokenType = options.tokenType ?? "keyward_secret_token";
  const keys = new Map<string, Promise<CryptoKey>>();
  for (const k of options.publicKeys) {
    if (typeof k?.key_identifier !== "string" || typeof k.key !== "string") throw new TypeError("each public key needs key_identifier and key");
    const der = pemToDer(k.key);
    if (!der || !isP256PublicKey(der)) {
      throw new TypeError(`public key ${k.key_identifier} is not an ECDSA P-256 public key in PEM (SubjectPublicKeyInfo)`);
    }
    const imported = crypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    // Checked above, so it imports; were it refused, its alerts would fail verification (401).
    imported.catch(() => {});
    keys.set(k.key_identifier, imported);
  }
  const answered = new BoundedMap<LeakLabel[]>(limits.maxRemembered);
  const { keyward } = options;

  return async (request) => {
    if (request.method !== "POST") return answer(405, { error: "method not allowed" }, { allow: "POST" });
    const keyId = request.headers.get("github-public-key-identifier");
    const signature = fromBase64(request.headers.get("github-public-key-signature") ?? "");
    const key = keyId === null ? undefined : keys.get(keyId);
    if (!key || !signature || !request.body) return answer(401, { error: "signature missing or key unknown" });
    const read = await readStream(request.body, limits.maxBodyBytes).catch(() => null);
    if (read == null) return answer(413, { error: "body too large or unreadable" });
    const body = new Uint8Array(read);
    const raw = derToP1363(signature, 32);
    let valid = false;
    try {
      valid = raw !== null && (await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, await key, raw, body));
    } catch {
      valid = false;
    }
    if (!valid) return answer(401, { error: "invalid signature" });
    const matches = parseMatches(body, limits.maxMatches);
    if (!matches) return answer(400, { error: "malformed alert" });

    // A replay of a processed alert (same body) gets the same answer and acts on nothing again.
    const digest = await sha256(body);
    const earlier = answered.get(digest);
    if (earlier) return answer(200, earlier);
    const labels: LeakLabel[] = [];
    for (const m of matches) {
      // Publishable tokens are public by design: a sighting is flagged, never revoked (by the stored
      // kind: an imported key's string does not say it).
      const report = await keyward.tokens
        .reportLeak(m.token, { source: "github", ...(m.url !== null && { url: m.url }), action, publishable: "flag" })
        .catch(() => null);
      if (report === null) return answer(503, { error: "store unavailable" });
      if (report.outcome === "revoked" || report.outcome === "flagged") {
        await Promise.resolve(options.onLeak?.({ ...report, url: m.url, source: m.source })).catch(() => {});
      }
      labels.push({
        token_hash: await sha256(new TextEncoder().encode(m.token)),
        token_type: m.type || tokenType,
        label: report.outcome === "unknown" ? "false_positive" : "true_positive",
      });
    }
    answered.set(digest, labels);
    return answer(200, labels);
  };
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
