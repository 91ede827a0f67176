// The content coding of a request body (RFC 9110 §8.4), read the same way
// by every entry point that reads a body.

/** Whether a request's content is compressed: any Content-Encoding but `identity` (any case, RFC 9110 §8.4.1). */
export function isEncoded(contentEncoding: string | null | undefined): boolean {
  const coding = contentEncoding?.trim().toLowerCase() ?? "";
  return coding !== "" && coding !== "identity";
}
