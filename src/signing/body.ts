// Reading a message body without consuming it, with a size cap.
import { utf8 } from "../lib/bytes.js";
import { readStream } from "../lib/read-stream.js";
import type { HttpMessage } from "./components.js";

/**
 * The bytes of `message`'s body, read from a clone so the caller can still
 * consume it; an empty array when there is no body. Returns null as soon as
 * more than `maxBytes` arrive (or Content-Length announces more), without
 * buffering the rest, and undefined when the `until` promise settles before
 * the body has ended; an `until` signal that aborts first rejects with its
 * reason (see readStream).
 *
 * @throws {TypeError} when the body was already consumed.
 */
export async function readBody(
  message: HttpMessage,
  maxBytes: number,
  until?: Promise<undefined> | AbortSignal,
): Promise<Uint8Array | null | undefined> {
  if (message.body === null) return new Uint8Array(0);
  const declared = message.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) return null;
  const held = { message };
  reading.add(held);
  try {
    return await readStream(message.clone().body!, maxBytes, until);
  } finally {
    reading.delete(held);
  }
}

/**
 * The messages whose body is being read, held until the read ends: undici's
 * Request follows the signal it was given only while the Request itself
 * lives (nodejs/undici#4068), so a read bounded by the signal of a Request
 * that nothing else holds would wait for ever once it was collected.
 */
const reading = new Set<{ message: HttpMessage }>();

/**
 * The bytes a Request built from `init.body` sends, computed from the value
 * itself, without a Request or a stream (Fetch, "extract a body"): a string
 * as UTF-8 (lone surrogates as U+FFFD, as the USVString conversion does),
 * URLSearchParams as its `application/x-www-form-urlencoded` serialisation
 * (`toString()`) in UTF-8, an ArrayBuffer or a view of one as its bytes (a
 * view, not a copy: read them before the caller can change them); an empty
 * array for no body. Undefined for the bodies that need reading (Blob,
 * FormData, whose boundary the Request chooses, ReadableStream, anything
 * else the Request converts).
 */
export function initBodyBytes(body: BodyInit | null | undefined): Uint8Array | undefined {
  if (body === null || body === undefined) return new Uint8Array(0);
  if (typeof body === "string") return utf8(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (typeof URLSearchParams !== "undefined" && body instanceof URLSearchParams) return utf8(body.toString());
  return undefined;
}
