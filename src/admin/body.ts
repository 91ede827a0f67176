// The body of a mutation: a JSON media type (so a cross-site form cannot send
// it and a cross-site fetch needs a CORS preflight this API never grants),
// uncompressed, at most `maxBodyBytes` read, within `bodyTimeoutMs`, then parsed.
import { isEncoded } from "../http/content-coding.js";
import { readStream, withDeadline } from "../lib/read-stream.js";
import { AdminAnswer } from "./problem.js";

/** Default largest request body, bytes: room for 1 024 IPv6 ranges, 256 domains and 8 KiB of metadata. */
export const DEFAULT_MAX_BODY_BYTES = 128 * 1024;

/** Default longest wait for a request body to end, ms: 10 s, as for a signed body. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** How much of a body is read, and for how long. */
export interface BodyLimits {
  readonly maxBodyBytes: number;
  readonly bodyTimeoutMs: number;
}

/** Whether a Content-Type is `application/json` (RFC 8259 §11), parameters such as charset aside (RFC 9110 §8.3.1). */
export function isJsonMediaType(contentType: string | null): boolean {
  if (contentType === null) return false;
  return contentType.split(";", 1)[0]!.trim().toLowerCase() === "application/json";
}

const tooLarge = (max: number) =>
  new AdminAnswer(413, "BODY_TOO_LARGE", "Body too large", `The request body must be at most ${max} bytes.`);

/**
 * What a body stream failing to give its bytes says: the connection it came
 * on ended before the body did (the client went, reset its stream, or a
 * proxy cut it). The client's doing, not the server's: nginx's 499, which
 * no client receives, for logs and metrics to count apart from 5xx. A
 * TypeError is the server's own (a body already read, or not of bytes): it
 * stays an error, a 500.
 *
 * @throws {AdminAnswer} 499 `CLIENT_CLOSED_REQUEST`
 */
function closedRequest(err: unknown): never {
  if (err instanceof TypeError) throw err;
  throw new AdminAnswer(499, "CLIENT_CLOSED_REQUEST", "Client closed request", "The request ended before its body was complete: nothing was done.");
}

/**
 * Reads a request's body, stopping as soon as it passes `maxBodyBytes` (a
 * declared Content-Length above it is refused before any byte is read), or
 * when it has not ended within `bodyTimeoutMs`. A body the server read
 * before (a body parser mounted ahead of the handler) is the server's
 * mistake, never taken for an empty one.
 *
 * @throws {AdminAnswer} 500 `BODY_ALREADY_READ`, 413 `BODY_TOO_LARGE`, 408 `BODY_TIMEOUT`, 499 `CLIENT_CLOSED_REQUEST`
 */
async function readBody(request: Request, { maxBodyBytes: max, bodyTimeoutMs }: BodyLimits): Promise<Uint8Array> {
  if (request.bodyUsed) {
    throw new AdminAnswer(500, "BODY_ALREADY_READ", "Server error", "The server read this request's body before the admin handler could: nothing was done.");
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) throw tooLarge(max);
  const { body } = request;
  if (body === null) return new Uint8Array(0);
  const bytes = await withDeadline(bodyTimeoutMs, (until) => readStream(body, max, until)).catch(closedRequest);
  if (bytes === undefined) throw new AdminAnswer(408, "BODY_TIMEOUT", "Body too slow", `The request body did not arrive within ${bodyTimeoutMs} ms.`);
  if (bytes === null) throw tooLarge(max);
  return bytes;
}

/**
 * The JSON value of a mutation's body; an empty body is `{}`.
 *
 * @throws {AdminAnswer} 415 `UNSUPPORTED_MEDIA_TYPE` (not JSON, or compressed), 500 `BODY_ALREADY_READ`, 413 `BODY_TOO_LARGE`, 408 `BODY_TIMEOUT`, 499 `CLIENT_CLOSED_REQUEST`, 400 `MALFORMED_JSON`
 */
export async function readJson(request: Request, limits: BodyLimits): Promise<unknown> {
  if (!isJsonMediaType(request.headers.get("content-type"))) {
    throw new AdminAnswer(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type", "Send the request body as application/json.", {
      "accept-patch": "application/json",
    });
  }
  // A compressed body is not the JSON its bytes would be read as (RFC 9110 §15.5.16: name the codings taken).
  if (isEncoded(request.headers.get("content-encoding"))) {
    throw new AdminAnswer(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type", "Send the request body uncompressed: no Content-Encoding.", {
      "accept-encoding": "identity",
    });
  }
  const bytes = await readBody(request, limits);
  if (bytes.byteLength === 0) return {};
  try {
    // fatal: a body that is not UTF-8 (RFC 8259 §8.1) is malformed, not silently repaired.
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new AdminAnswer(400, "MALFORMED_JSON", "Malformed JSON", "The request body is not valid JSON.");
  }
}
