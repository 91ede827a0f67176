// fetch with every request signed: build the Request as fetch would, buffer
// its body once (a stream can be read only once, and the digest needs all of
// it), sign, send. Redirects are followed here, not by fetch: a signature
// covers one URL, so each hop is signed anew, and never for another origin.
import { checkOptionNames, optionNames } from "../lib/options.js";
import { readStream } from "../lib/read-stream.js";
import { initBodyBytes } from "../signing/body.js";
import { referrerOf } from "../signing/referrer.js";
import { type Signer, signersInPlace } from "./create-signer.js";

/** A fetch-compatible function, as returned by {@link signedFetch}. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** Options of {@link signedFetch}. */
export interface SignedFetchOptions {
  /**
   * Largest request body to buffer and sign, in bytes (default 10 MiB). The
   * whole body is held in memory to compute Content-Digest; a larger one is
   * refused with a RangeError before anything is sent.
   */
  maxBodyBytes?: number | undefined;
  /**
   * What a followed redirect to another origin does (another scheme, host or
   * port than the first request's):
   * - `"error"` (default): the call rejects with a TypeError and nothing is
   *   sent there;
   * - `"unsigned"`: the request is sent there unsigned and, as fetch does,
   *   without `Authorization`, `Cookie` or `Proxy-Authorization`; other
   *   headers and a 307 / 308 body go along, as with fetch. From then on
   *   nothing is signed, even a redirect back to the first origin: the
   *   other origin chose where it leads (as fetch never restores the
   *   credentials it dropped). For an API that hands downloads over to a
   *   storage host.
   */
  crossOriginRedirects?: "error" | "unsigned" | undefined;
}

/** @internal Default of `maxBodyBytes`: 10 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Most redirects one call follows, as fetch (Fetch §4.4 "HTTP-redirect fetch", step 5). */
const MAX_REDIRECTS = 20;

/**
 * Header fields that describe a body, dropped with it when a redirect turns
 * the request into a GET: Fetch §4.4 step 12's, and a caller's Content-Length
 * and Content-Digest, which would describe a body no longer sent.
 */
const BODY_FIELDS = ["content-digest", "content-encoding", "content-language", "content-length", "content-location", "content-type"];

/**
 * Credentials dropped on a redirect to another origin: Authorization (Fetch
 * §4.4, "HTTP-redirect fetch"), and Cookie and Proxy-Authorization, which
 * Node's, Deno's and Bun's fetch drop there too.
 */
const CREDENTIAL_FIELDS = ["authorization", "cookie", "proxy-authorization"];

const SIGNED_FETCH_OPTIONS = optionNames<SignedFetchOptions>({ maxBodyBytes: true, crossOriginRedirects: true });

/**
 * Wraps fetch so that every request is signed by `signer`. Accepts what fetch
 * accepts: a URL, a string (relative to the page in a browser) or a Request,
 * and bodies as string, Uint8Array, ArrayBuffer, Blob, URLSearchParams,
 * FormData or ReadableStream. A stream is read once and sent as bytes, so no
 * `duplex: "half"` is needed (it is added if missing, for Node's Request);
 * its chunks must be Uint8Arrays (another typed array or a DataView is taken
 * as its bytes): a string or an ArrayBuffer rejects with a TypeError, as
 * fetch refuses it, and nothing is sent.
 * The call's `signal` bounds the whole call, as with fetch, reading the body
 * included: aborted (or timed out) before a stream body has ended, the
 * stream is cancelled and the call rejects with the signal's reason.
 * A Content-Digest among the request's headers (e.g. of a forwarded Request
 * whose body `init` replaces) is sent only if it is the digest of the body
 * sent; otherwise the call rejects before sending (see `signRequest`).
 * With a signer from {@link createSigner}, a URL (string or URL object) and
 * `init` a plain object whose body is a string, bytes or URLSearchParams (or
 * none), the first request is the one Request `fetch(url, init)` would build,
 * signed in place with its body digested from `init.body`, as
 * `signRequest(url, init, options)` does: no copy of it, no read of its body.
 * The fields and signature are those of any other path.
 *
 * Redirects: with `redirect: "follow"` (fetch's default) the function
 * follows them itself, up to 20, with fetch's rules for the method and body
 * (303, and 301 / 302 after a POST, become a GET without body, nor the
 * fields describing it, Content-Type, Content-Length or Content-Digest; 307 / 308
 * keep both, sent again from the buffered bytes). Each request to the
 * first request's origin is signed anew for its own URL (a new `created`
 * and nonce); a redirect to another origin rejects with a TypeError before
 * anything is sent there, unless `crossOriginRedirects` is `"unsigned"`
 * (after which no hop is signed, not even one back to the first origin).
 * Every hop keeps the request's `cache`, `credentials`, `keepalive`,
 * `mode`, `referrer`, `referrerPolicy` and `signal`, as fetch does.
 * A browser hides a redirect's target from scripts: there, a redirect
 * rejects with a TypeError. The response is the last request's (its `url`
 * the final URL; `redirected` stays false). `redirect: "manual"` and
 * `"error"` are fetch's own: the 3xx (or opaque-redirect) response is
 * returned, or the call rejects.
 *
 * @param signer - From {@link createSigner} (or any object with a compatible `sign`).
 * @param fetchImpl - Called with each Request to send (default: the global `fetch`, looked up per
 *   call); `fetch` itself, or any function from Request to Response.
 * @param options - Body size limit; cross-origin redirects.
 * @returns A function with fetch's signature.
 * @throws {TypeError} when `signer` has no `sign` method, `fetchImpl` is not a function, there is
 *   no global fetch, or `crossOriginRedirects` is not `"error"` or `"unsigned"`; calls reject with a
 *   TypeError for a request fetch would refuse (a stream chunk that is not bytes too), more than 20 redirects, a redirect to another origin
 *   (by default) or to a URL that is not http(s), and a redirect whose target the runtime hides.
 * @throws {RangeError} for a negative or non-integer `maxBodyBytes`; calls reject with a RangeError
 *   when the body is larger than `maxBodyBytes`.
 * @throws {InvalidInputError} (a rejection; `INVALID_INPUT`, `field` `"body"`) when the request
 *   carries a Content-Digest that is not the body's.
 * @throws the signal's reason (a rejection), as fetch: an `AbortError` `DOMException` by default, a
 *   `TimeoutError` one for `AbortSignal.timeout`.
 * @example
 * ```ts
 * const api = signedFetch(createSigner({ keyId: "tok_4qTz8Rk2mXbN7wLcP1dYeF", alg: "ed25519", privateKey: seed }));
 * const res = await api("https://api.example.com/v1/prices", { method: "POST", body: JSON.stringify({ symbol: "X" }) });
 * ```
 */
export function signedFetch(
  signer: Pick<Signer, "sign">,
  fetchImpl?: (input: Request, init?: RequestInit) => Promise<Response>,
  options: SignedFetchOptions = {},
): FetchFunction {
  if (signer === null || typeof signer !== "object" || typeof signer.sign !== "function") {
    throw new TypeError("signer must have a sign(request) method (see createSigner)");
  }
  if (fetchImpl !== undefined && typeof fetchImpl !== "function") throw new TypeError("fetchImpl must be a function");
  if (fetchImpl === undefined && typeof globalThis.fetch !== "function") {
    throw new TypeError("no global fetch in this runtime: pass fetchImpl");
  }
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  // A misspelt `crossOriginRedirects: "unsigned"` would leave the default in force without a word.
  checkOptionNames(options, SIGNED_FETCH_OPTIONS, "signedFetch");
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (typeof maxBodyBytes !== "number" || !Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new RangeError("maxBodyBytes must be a non-negative integer");
  }
  const crossOrigin = options.crossOriginRedirects ?? "error";
  if (crossOrigin !== "error" && crossOrigin !== "unsigned") throw new TypeError('crossOriginRedirects must be "error" or "unsigned"');
  const send = fetchImpl ?? ((request: Request) => globalThis.fetch(request));
  const tooLarge = () => new RangeError(`request body is larger than maxBodyBytes (${maxBodyBytes} bytes)`);
  const sign = (request: Request, body: Uint8Array | null) => (body === null ? signer.sign(request) : signer.sign(request, { body }));

  return async (input, init) => {
    // A URL and a plain init, with createSigner's signer: the one Request fetch would build (but
    // redirect "manual" when followed here), signed in place when fetch takes init.body as it is
    // (string, bytes, URLSearchParams), digested from that value, as signRequest(url, init, options).
    const inPlace = signersInPlace.get(signer);
    const byUrl = inPlace !== undefined && (typeof input === "string" || input instanceof URL) && isPlainInit(init);
    const value = byUrl ? init?.body : undefined;
    const manual = byUrl && (init?.redirect ?? "follow") === "follow";
    const given = withDuplex(init);
    let hop = new Request(input, manual ? (Object.create(given ?? null, { redirect: { value: "manual" } }) as RequestInit) : given);
    const follow = manual || hop.redirect === "follow";
    const bytes = byUrl && hop.body !== null ? initBodyBytes(value) : undefined;
    const first = byUrl && (hop.body === null || bytes !== undefined) ? inPlace : undefined;
    let body: Uint8Array | null = null;
    if (bytes !== undefined) {
      // As the read below: the signal first, then the size. Kept for a redirect's hops as bytes
      // of its own: a view of the caller's may change.
      hop.signal.throwIfAborted();
      if (bytes.length > maxBodyBytes) throw tooLarge();
      body = follow && typeof value !== "string" ? bytes.slice() : bytes;
    } else if (hop.body !== null) {
      // As fetch: the call's signal bounds the read (a stalled stream is cancelled, the call rejects with the reason).
      body = (await readStream(hop.body, maxBodyBytes, hop.signal)) ?? null;
      if (body === null) throw tooLarge();
    }
    // Otherwise the same URL, method, headers (incl. a multipart boundary) and options; the
    // body now as bytes, also handed to the signer so that it reads nothing again.
    if (first === undefined) hop = new Request(hop, { body: body as Uint8Array<ArrayBuffer> | null, redirect: follow ? "manual" : hop.redirect, ...referrerOf(hop) });
    // Each later hop stays unsigned: a signed copy of it is sent, to the first
    // request's origin only, and only until a redirect has left it: where
    // the chain goes after another origin is that origin's choice. The first
    // hop signed in place leaves its headers before signing to the next.
    let unsigned = first !== undefined && follow ? new Headers(hop.headers) : undefined;
    const origin = new URL(hop.url).origin;
    let left = false;
    for (let redirects = 0; ; redirects++) {
      const response = await send(left ? hop : redirects === 0 && first ? await first(hop, body ?? undefined) : await sign(hop, body));
      // redirect: "manual" or "error" as the caller asked: fetch's own answer.
      if (!follow) return response;
      if (response.type === "opaqueredirect") throw new TypeError("redirected, and the runtime hides where: cannot sign for it");
      const status = response.status;
      const location = [301, 302, 303, 307, 308].includes(status) ? response.headers.get("location") : null;
      if (location === null) return response;
      // The redirect's own body is not read: let its connection go.
      response.body?.cancel().catch(() => {});
      if (redirects === MAX_REDIRECTS) throw new TypeError("too many redirects");
      const next = new URL(locationText(location), hop.url);
      if (!/^https?:$/.test(next.protocol)) throw new TypeError("redirect to a URL that is not http(s)");
      const leaves = next.origin !== origin;
      if (leaves && crossOrigin === "error") throw new TypeError(`redirect to another origin (${next.origin}) not followed: see crossOriginRedirects`);
      // Fetch §4.4 step 12: 303 (but after HEAD), and 301 / 302 after a POST, become a GET without body.
      const method = hop.method;
      const toGet = (status === 303 && method !== "GET" && method !== "HEAD") || (status < 303 && method === "POST");
      const headers = new Headers(unsigned ?? hop.headers);
      unsigned = undefined;
      if (toGet) {
        body = null;
        for (const name of BODY_FIELDS) headers.delete(name);
      }
      // As fetch: no credentials to another origin, nor any signature from then on.
      if (leaves) {
        left = true;
        for (const name of CREDENTIAL_FIELDS) headers.delete(name);
      }
      // The request's options go on, as fetch keeps them across a redirect (an integrity, checked on the 3xx, has failed already).
      const { cache, credentials, keepalive, mode, signal } = hop;
      const kept = { cache, credentials, keepalive, mode, signal, ...referrerOf(hop) };
      hop = new Request(next, { ...kept, method: toGet ? "GET" : method, headers, body: body as Uint8Array<ArrayBuffer> | null, redirect: "manual" });
    }
  };
}

/**
 * A Location field's value as a URL string. Header values are bytes (each
 * a character up to U+00FF); a server that sends a URL in raw UTF-8, not
 * percent-encoded, means its UTF-8, and browsers and Node's fetch follow it
 * so (undici's responseLocationURL): read as Latin-1, each such character
 * would be encoded again, to another URL. Bytes that are not UTF-8 stay
 * Latin-1 (where undici would put U+FFFD). A leading U+FEFF is kept, as
 * undici keeps it: a URL character (percent-encoded), no byte order mark.
 */
function locationText(value: string): string {
  try {
    return locationDecoder.decode(Uint8Array.from(value, (c) => c.charCodeAt(0)));
  } catch {
    return value;
  }
}

/** Strict UTF-8 that keeps a leading U+FEFF (lib/bytes' fromUtf8 drops it, as a byte order mark). */
const locationDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Whether `init` is absent or a plain object, whose members a derived object reads as they are. */
function isPlainInit(init: RequestInit | undefined): boolean {
  if (init === undefined) return true;
  const proto: unknown = init !== null && typeof init === "object" ? Object.getPrototypeOf(init) : undefined;
  return proto === Object.prototype || proto === null;
}

/** Node's Request (like Chromium's) wants `duplex: "half"` with a stream body; callers often omit it. */
function withDuplex(init: RequestInit | undefined): RequestInit | undefined {
  if (init === undefined || init === null || typeof ReadableStream === "undefined") return init;
  if (!(init.body instanceof ReadableStream) || "duplex" in init) return init;
  return { ...init, duplex: "half" } as RequestInit;
}
