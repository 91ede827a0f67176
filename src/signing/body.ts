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
  if (ArrayBuffer.isView(body)) {
    if (!PLAIN_VIEWS.has(Object.getPrototypeOf(body)) || VIEW_FIELDS.some((name) => Object.hasOwn(body, name))) return undefined;
    // The slots themselves (a plain view's getters are these).
    const view = body instanceof DataView ? DATA_VIEW : TYPED_ARRAY;
    const buffer: unknown = view.buffer.call(body);
    if (!plainArrayBuffer(buffer)) return undefined;
    return new Uint8Array(buffer, view.byteOffset.call(body) as number, view.byteLength.call(body) as number);
  }
  if (plainArrayBuffer(body)) return new Uint8Array(body);
  if (
    typeof URLSearchParams !== "undefined" &&
    Object.getPrototypeOf(body) === URLSearchParams.prototype &&
    !Object.hasOwn(body, "toString")
  ) {
    return utf8(body.toString());
  }
  return undefined;
}

/** The prototypes of the views whose bytes initBodyBytes reads (Node's Buffer among them), not their subclasses'. */
const PLAIN_VIEWS = new Set<unknown>(
  [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
    DataView,
    (globalThis as { Float16Array?: unknown }).Float16Array,
    (globalThis as { Buffer?: unknown }).Buffer,
  ].map((type) => (type as { prototype?: unknown } | undefined)?.prototype),
);
const VIEW_FIELDS = ["buffer", "byteOffset", "byteLength"] as const;

/** A view's intrinsic getters, which read its slots whatever properties it was given. */
function getters(proto: object): Record<(typeof VIEW_FIELDS)[number], (this: unknown) => unknown> {
  const get = (name: string) => Object.getOwnPropertyDescriptor(proto, name)!.get!;
  return { buffer: get("buffer"), byteOffset: get("byteOffset"), byteLength: get("byteLength") };
}
const TYPED_ARRAY = getters(Object.getPrototypeOf(Uint8Array.prototype) as object);
const DATA_VIEW = getters(DataView.prototype);
const AB_BYTE_LENGTH = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength")!.get!;

/**
 * Whether `value` is an ArrayBuffer (not shared memory, which a SharedArrayBuffer
 * given ArrayBuffer's prototype would pass for) with ArrayBuffer's own `slice`.
 */
function plainArrayBuffer(value: unknown): value is ArrayBuffer {
  if (Object.getPrototypeOf(value) !== ArrayBuffer.prototype || Object.hasOwn(value as object, "slice")) return false;
  try {
    AB_BYTE_LENGTH.call(value);
    return true;
  } catch {
    return false;
  }
}
