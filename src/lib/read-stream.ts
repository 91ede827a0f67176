// Reading a body stream into memory with a size cap (runtime-agnostic).

/**
 * All bytes of `stream`, or null as soon as more than `maxBytes` arrive (the
 * rest is not buffered; the stream is cancelled without waiting, since
 * cancelling one branch of a tee settles only when the other one ends).
 */
export async function readStream(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
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
