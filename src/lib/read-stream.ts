// Reading a body stream into memory with a size cap and an optional deadline (runtime-agnostic).

/**
 * All bytes of `stream`; null as soon as more than `maxBytes` arrive (the
 * rest is not buffered), undefined if `deadline` settles first. In both
 * cases the stream is cancelled without waiting, since cancelling one branch
 * of a tee settles only when the other one ends.
 */
export async function readStream(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  deadline?: Promise<undefined>,
): Promise<Uint8Array | null | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const result = await (deadline ? Promise.race([reader.read(), deadline]) : reader.read());
    if (result?.done) break;
    total += result?.value.byteLength ?? 0;
    if (!result || total > maxBytes) {
      reader.cancel().catch(() => {});
      return result && null;
    }
    chunks.push(result.value);
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
