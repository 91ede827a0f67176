// Content-Digest (RFC 9530 §2) with the "Active" algorithms sha-256 and sha-512 (§5).
import { equalBytes, toBase64, utf8 } from "../lib/bytes.js";
import { digest } from "./algorithms.js";
import { readBody } from "./body.js";
import { byteSequenceBytes, parseDictionary } from "./structured.js";
import type { DigestAlgorithm } from "./types.js";

const SUPPORTED: readonly DigestAlgorithm[] = ["sha-256", "sha-512"];

/** Result of {@link verifyContentDigest}. */
export type VerifyContentDigestResult =
  | { ok: true }
  | { ok: false; code: "DIGEST_MISSING" | "DIGEST_MISMATCH" | "DIGEST_MALFORMED" };

function checkAlgorithms(algs: readonly DigestAlgorithm[]): void {
  if (!Array.isArray(algs) || algs.length === 0) throw new TypeError("algs must be a non-empty array");
  for (const alg of algs) {
    if (!SUPPORTED.includes(alg)) throw new RangeError(`unsupported digest algorithm: ${String(alg)}`);
  }
}

/**
 * The `Content-Digest` field value for a body (RFC 9530 §2): a Dictionary of
 * algorithm → Byte Sequence, e.g. `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`.
 *
 * @param body - The message content as sent (strings are encoded as UTF-8).
 * @param algs - Algorithms, in order (default `["sha-256"]`).
 * @returns The field value.
 * @throws {TypeError} when `body` is neither a Uint8Array nor a string, or `algs` is empty.
 * @throws {RangeError} for an algorithm other than `sha-256` and `sha-512`.
 * @example
 * ```ts
 * computeContentDigest('{"hello": "world"}', ["sha-256"]);
 * // 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'
 * ```
 */
export function computeContentDigest(body: Uint8Array | string, algs: readonly DigestAlgorithm[] = ["sha-256"]): string {
  const bytes = typeof body === "string" ? utf8(body) : body;
  if (!(bytes instanceof Uint8Array)) throw new TypeError("body must be a Uint8Array or a string");
  checkAlgorithms(algs);
  return [...new Set(algs)].map((alg) => `${alg}=:${toBase64(digest(alg, bytes))}:`).join(", ");
}

/**
 * Checks a `Content-Digest` field value against the content. At least one
 * supported algorithm (sha-256, sha-512) must be present and every supported
 * one present must match (compared in constant time); others are ignored, as
 * RFC 9530 §2 lets a recipient do. Never throws.
 *
 * @param header - The field value (`request.headers.get("content-digest")`), or null when absent.
 * @param body - The content as received.
 * @returns `{ ok: true }`, or `{ ok: false, code }` with `DIGEST_MISSING` (absent, or no supported
 *   algorithm), `DIGEST_MALFORMED` (not a Dictionary of Byte Sequences) or `DIGEST_MISMATCH`.
 * @example
 * ```ts
 * const body = new TextEncoder().encode('{"hello": "world"}');
 * verifyContentDigest("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", body); // { ok: true }
 * ```
 */
export function verifyContentDigest(header: string | null, body: Uint8Array): VerifyContentDigestResult {
  try {
    if (header === null || header === undefined || header.trim() === "") return { ok: false, code: "DIGEST_MISSING" };
    if (typeof header !== "string" || !(body instanceof Uint8Array)) return { ok: false, code: "DIGEST_MALFORMED" };
    const dict = parseDictionary(header);
    if (dict === null) return { ok: false, code: "DIGEST_MALFORMED" };
    let checked = 0;
    let mismatch = false;
    for (const alg of SUPPORTED) {
      const member = dict.get(alg);
      if (member === undefined) continue;
      const value = Array.isArray(member[0]) ? null : byteSequenceBytes(member[0]);
      if (value === null) return { ok: false, code: "DIGEST_MALFORMED" };
      // Every supported digest is computed and compared; no early exit on the first mismatch.
      if (!equalBytes(digest(alg, body), value)) mismatch = true;
      checked++;
    }
    if (checked === 0) return { ok: false, code: "DIGEST_MISSING" };
    return mismatch ? { ok: false, code: "DIGEST_MISMATCH" } : { ok: true };
  } catch {
    return { ok: false, code: "DIGEST_MALFORMED" };
  }
}

/**
 * Returns a new Request with a `Content-Digest` field computed from its body
 * (replacing any present). The original request stays readable. A request
 * without a body gets the digest of empty content.
 *
 * @param request - The request to digest.
 * @param algs - Algorithms (default `["sha-256"]`).
 * @returns A new Request with the same body and the field set.
 * @throws {TypeError} when the body was already consumed, or as {@link computeContentDigest}.
 * @example
 * ```ts
 * const req = await setContentDigest(new Request("https://api.example.com/v1", { method: "POST", body: "{}" }));
 * req.headers.get("content-digest"); // "sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:"
 * ```
 */
export async function setContentDigest(request: Request, algs: readonly DigestAlgorithm[] = ["sha-256"]): Promise<Request> {
  checkAlgorithms(algs);
  const body = (await readBody(request, Number.POSITIVE_INFINITY))!;
  const headers = new Headers(request.headers);
  headers.set("content-digest", computeContentDigest(body, algs));
  return request.body === null ? new Request(request, { headers }) : new Request(request, { headers, body: body as BodyInit });
}
