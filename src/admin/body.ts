// The body of a mutation: a JSON media type (so a cross-site form cannot send
// it and a cross-site fetch needs a CORS preflight this API never grants),
// at most `maxBodyBytes` read, then parsed.
import { readStream } from "../lib/read-stream.js";
import { AdminAnswer } from "./problem.js";

/** Default largest request body, bytes: room for 1 024 IPv6 ranges, 256 domains and 8 KiB of metadata. */
export const DEFAULT_MAX_BODY_BYTES = 128 * 1024;

/** Whether a Content-Type is `application/json` (RFC 8259 §11), parameters such as charset aside (RFC 9110 §8.3.1). */
export function isJsonMediaType(contentType: string | null): boolean {
  if (contentType === null) return false;
  return contentType.split(";", 1)[0]!.trim().toLowerCase() === "application/json";
}

const tooLarge = (max: number) =>
  new AdminAnswer(413, "BODY_TOO_LARGE", "Body too large", `The request body must be at most ${max} bytes.`);

/**
 * Reads a request's body, stopping as soon as it passes `max` bytes (a
 * declared Content-Length above it is refused before any byte is read).
 *
 * @throws {AdminAnswer} 413 `BODY_TOO_LARGE`
 */
async function readBody(request: Request, max: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) throw tooLarge(max);
  if (request.body === null) return new Uint8Array(0);
  const bytes = await readStream(request.body, max);
  if (!bytes) throw tooLarge(max);
  return bytes;
}

/**
 * The JSON value of a mutation's body; an empty body is `{}`.
 *
 * @throws {AdminAnswer} 415 `UNSUPPORTED_MEDIA_TYPE`, 413 `BODY_TOO_LARGE`, 400 `MALFORMED_JSON`
 */
export async function readJson(request: Request, max: number): Promise<unknown> {
  if (!isJsonMediaType(request.headers.get("content-type"))) {
    throw new AdminAnswer(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type", "Send the request body as application/json.", {
      "accept-patch": "application/json",
    });
  }
  const bytes = await readBody(request, max);
  if (bytes.byteLength === 0) return {};
  try {
    // fatal: a body that is not UTF-8 (RFC 8259 §8.1) is malformed, not silently repaired.
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new AdminAnswer(400, "MALFORMED_JSON", "Malformed JSON", "The request body is not valid JSON.");
  }
}
