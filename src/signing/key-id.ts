// The key id a signature names (its `keyid` parameter, RFC 9421 §2.3): checked
// in one place for every way to sign (signRequest, signatureHeaders, the
// client's createSigner and signerFromEnv, the CLI's sign).

// A keyward token (`<prefix>_<pk|sk>_<live|test>_<body>`), or a look-alike
// (`sk_live_…`), where a public id belongs: it would be sent in the clear.
const LOOKS_LIKE_TOKEN = /(?:^|_)(?:pk|sk)_(?:live|test)_[0-9A-Za-z]{20,}/;

/**
 * @internal Checks a key id: a non-empty string that does not look like a
 * token. (What the `keyid` String cannot hold, non-ASCII, is refused where
 * it is serialised.)
 *
 * @returns the key id
 * @throws {TypeError} otherwise, with a message that never echoes it
 */
export function checkKeyId(keyId: unknown): string {
  if (typeof keyId !== "string" || keyId === "") throw new TypeError("keyId must be a non-empty string");
  if (LOOKS_LIKE_TOKEN.test(keyId)) {
    throw new TypeError("keyId looks like a token; pass the token's public id (tok_…), never the token");
  }
  return keyId;
}
