// Reading a message body without consuming it, with a size cap.
import type { HttpMessage } from "./components.js";

/**
 * The bytes of `message`'s body, read from a clone so the caller can still
 * consume it; an empty array when there is no body. Returns null as soon as
 * more than `maxBytes` arrive (or Content-Length announces more), without
 * buffering the rest.
 *
 * @throws {TypeError} when the body was already consumed.
 */
export async function readBody(message: HttpMessage, maxBytes: number): Promise<Uint8Array | null> {
  if (message.body === null) return new Uint8Array(0);
  const declared = message.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) return null;
  const reader = message.clone().body!.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Not awaited: cancelling one branch of a tee (clone) settles only once
      // the other branch, the caller's, is cancelled or read to the end.
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
