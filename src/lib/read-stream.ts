// Reading a body stream into memory with a size cap and an optional deadline or abort signal (runtime-agnostic).

/**
 * All bytes of `stream`; null as soon as more than `maxBytes` arrive (the
 * rest is not buffered). Each chunk must be bytes (a Uint8Array, or another
 * ArrayBufferView, taken as its bytes): anything else (a string, an
 * ArrayBuffer) rejects with a TypeError and cancels the stream, as fetch
 * refuses such a body, rather than be taken for bytes it is not. `until`
 * bounds the wait: a promise (undefined is
 * returned if it settles first), or an AbortSignal (the promise rejects with
 * the signal's reason, as fetch does, if it is or becomes aborted before the
 * stream ends). In each case the stream is cancelled without waiting, since
 * cancelling one branch of a tee settles only when the other one ends.
 */
export async function readStream(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  until?: Promise<undefined> | AbortSignal,
): Promise<Uint8Array | null | undefined> {
  const reader = stream.getReader();
  const signal = until === undefined || until instanceof Promise ? undefined : until;
  if (signal?.aborted) {
    reader.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }
  let release = () => {};
  const deadline =
    signal === undefined
      ? (until as Promise<undefined> | undefined)
      : new Promise<undefined>((resolve) => {
          const onAbort = () => resolve(undefined);
          signal.addEventListener("abort", onAbort, { once: true });
          release = () => signal.removeEventListener("abort", onAbort);
        });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const result = await (deadline ? Promise.race([reader.read(), deadline]) : reader.read());
      if (result?.done) break;
      // Bytes (any view of them), or, when the wait ended first, no result.
      const view: unknown = result?.value;
      if (result && !ArrayBuffer.isView(view)) {
        reader.cancel().catch(() => {});
        throw new TypeError("a body stream gave a chunk that is not bytes (a Uint8Array)");
      }
      total += (view as ArrayBufferView | undefined)?.byteLength ?? 0;
      if (!result || total > maxBytes) {
        reader.cancel(result ? undefined : signal?.reason).catch(() => {});
        if (!result && signal !== undefined) throw signal.reason;
        return result && null;
      }
      const bytes = view as ArrayBufferView;
      chunks.push(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
  } finally {
    // A long-lived signal (one controller for many calls) keeps no listener per read.
    release();
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

/**
 * What `wait` gives, given a deadline `timeoutMs` from now: a promise that
 * settles to undefined then (the `until` of readStream and readBody), or,
 * if `wait` has not settled by then, undefined. The timer is cleared once
 * either settled. How keyward bounds each wait on a client or a loader.
 */
export async function withDeadline<T>(timeoutMs: number, wait: (until: Promise<undefined>) => Promise<T>): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const until = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, undefined);
  });
  try {
    return await Promise.race([wait(until), until]);
  } finally {
    clearTimeout(timer);
  }
}
