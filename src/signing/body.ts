// Reading a message body without consuming it, with a size cap.
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
