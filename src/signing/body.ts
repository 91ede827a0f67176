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
 * in UTF-8, an ArrayBuffer or a view of one as its bytes (a view, not a
 * copy: read them before the caller can change them); an empty array for no
 * body. Undefined for the bodies that need reading (Blob, FormData, whose
 * boundary the Request chooses, ReadableStream, anything else the Request
 * converts), and for those a Request may read otherwise than their own
 * bytes: undici reads a view's `buffer`, `byteOffset`, `byteLength` and its
 * buffer's `slice`, and URLSearchParams' `toString`, as properties, which a
 * subclass or an own property answers (perhaps differently on each read),
 * and turns a view of shared memory into the text of its numbers, where a
 * browser refuses it.
 */
export function initBodyBytes(body: BodyInit | null | undefined): Uint8Array | undefined {
  if (body === null || body === undefined) return new Uint8Array(0);
  if (typeof body === "string") return utf8(body);
  const proto: unknown = Object.getPrototypeOf(body);
  if (ArrayBuffer.isView(body)) {
    // A plain view's getters are the intrinsic ones: they read its slots.
    const plain = PLAIN_VIEWS.has(proto) && !["buffer", "byteOffset", "byteLength"].some((name) => Object.hasOwn(body, name));
    return plain && plainArrayBuffer(body.buffer) ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength) : undefined;
  }
  if (plainArrayBuffer(body)) return new Uint8Array(body);
  return proto === globalThis.URLSearchParams?.prototype && !Object.hasOwn(body, "toString") ? utf8(body.toString()) : undefined;
}

/** The prototypes of the views whose bytes initBodyBytes reads (Node's Buffer among them), not their subclasses'. */
const PLAIN_VIEWS = new Set(
  [DataView, (globalThis as { Buffer?: unknown }).Buffer, ...["Int8", "Uint8", "Uint8Clamped", "Int16", "Uint16", "Int32", "Uint32", "Float16", "Float32", "Float64", "BigInt64", "BigUint64"].map((t) => (globalThis as Record<string, unknown>)[`${t}Array`])].map(
    (type) => (type as { prototype?: unknown } | undefined)?.prototype,
  ),
);
const AB_BYTE_LENGTH = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength")!.get!;

/** Whether `value` is an ArrayBuffer (not shared memory, nor a proxy: ArrayBuffer's byteLength getter throws for them) with ArrayBuffer's own `slice`. */
function plainArrayBuffer(value: unknown): value is ArrayBuffer {
  try {
    AB_BYTE_LENGTH.call(value);
  } catch {
    return false;
  }
  return Object.getPrototypeOf(value) === ArrayBuffer.prototype && !Object.hasOwn(value as object, "slice");
}
