// fetch with every request signed: build the Request as fetch would, buffer
// its body once (a stream can be read only once, and the digest needs all of
// it), sign, send.
import { readStream } from "../lib/read-stream.js";
import type { Signer } from "./create-signer.js";

/** A fetch-compatible function, as returned by {@link signedFetch}. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** Options of {@link signedFetch}. */
export interface SignedFetchOptions {
  /**
   * Largest request body to buffer and sign, in bytes (default 10 MiB). The
   * whole body is held in memory to compute Content-Digest; a larger one is
   * refused with a RangeError before anything is sent.
   */
  maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Wraps fetch so that every request is signed by `signer`. Accepts what fetch
 * accepts: a URL, a string (relative to the page in a browser) or a Request,
 * and bodies as string, Uint8Array, ArrayBuffer, Blob, URLSearchParams,
 * FormData or ReadableStream. A stream is read once and sent as bytes, so no
 * `duplex: "half"` is needed (it is added if missing, for Node's Request).
 *
 * @param signer - From {@link createSigner} (or any object with a compatible `sign`).
 * @param fetchImpl - Called with the signed Request only (default: the global `fetch`, looked up per
 *   call); `fetch` itself, or any function from Request to Response.
 * @param options - Body size limit.
 * @returns A function with fetch's signature.
 * @throws {TypeError} when `signer` has no `sign` method, `fetchImpl` is not a function, or there is
 *   no global fetch; calls reject with a TypeError for a request fetch would refuse.
 * @throws {RangeError} for a negative or non-integer `maxBodyBytes`; calls reject with a RangeError
 *   when the body is larger than `maxBodyBytes`.
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
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (typeof maxBodyBytes !== "number" || !Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new RangeError("maxBodyBytes must be a non-negative integer");
  }
  const send = fetchImpl ?? ((request: Request) => globalThis.fetch(request));

  return async (input, init) => {
    const request = new Request(input, withDuplex(init));
    if (request.body === null) return send(await signer.sign(request));
    const body = await readStream(request.body, maxBodyBytes);
    if (body === null) throw new RangeError(`request body is larger than maxBodyBytes (${maxBodyBytes} bytes)`);
    // Same URL, method, headers (incl. a multipart boundary) and options; the
    // body now as bytes, also handed to the signer so that it reads nothing again.
    const buffered = new Request(request, { body: body as Uint8Array<ArrayBuffer> });
    return send(await signer.sign(buffered, { body }));
  };
}

/** Node's Request (like Chromium's) wants `duplex: "half"` with a stream body; callers often omit it. */
function withDuplex(init: RequestInit | undefined): RequestInit | undefined {
  if (init === undefined || init === null || typeof ReadableStream === "undefined") return init;
  if (!(init.body instanceof ReadableStream) || "duplex" in init) return init;
  return { ...init, duplex: "half" } as RequestInit;
}
