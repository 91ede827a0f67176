// Sealing of HMAC signing keys at rest: AES-256-GCM (WebCrypto) under the
// application's sealing key, with the token id as associated data so a sealed
// blob cannot be moved to another token. Several sealing keys may be
// configured: the first seals, all unseal, each sealed value names its key by
// a fingerprint (`kid`), so the sealing key can be rotated without losing tokens.
import { SealingKeyError } from "../errors.js";
import type { SealedSecret } from "../model/types.js";
import { fromBase64, toBase64Url, utf8 } from "./bytes.js";
import { secureRandom, sha256Hex } from "./crypto.js";

const KEY_BYTES = 32;
const IV_BYTES = 12;
/** How to make a sealing key (32 random bytes, base64), as messages about a missing or malformed one say. */
export const MAKE_SEALING_KEY = "openssl rand -base64 32";

/** A parsed sealing key: raw bytes, fingerprint, and the WebCrypto key imported on first use. */
interface SealingKey {
  kid: string;
  raw: Uint8Array;
  imported?: Promise<CryptoKey>;
}

/** The application's sealing keys, first one current. */
export class Keyring {
  readonly #keys: SealingKey[];

  private constructor(keys: SealingKey[]) {
    this.#keys = keys;
  }

  /** Parses base64 / base64url 32-byte keys; returns null for an invalid one (with its index). */
  static parse(encoded: readonly string[]): Keyring | { invalid: number } {
    const keys: SealingKey[] = [];
    for (let i = 0; i < encoded.length; i++) {
      const raw = fromBase64(encoded[i]!.trim());
      if (!raw || raw.length !== KEY_BYTES) return { invalid: i };
      keys.push({ kid: sha256Hex(`keyward/v1/sealing-kid:${toBase64Url(raw)}`).slice(0, 16), raw });
    }
    return new Keyring(keys);
  }


  #cryptoKey(k: SealingKey): Promise<CryptoKey> {
    k.imported ??= globalThis.crypto.subtle.importKey("raw", k.raw as BufferSource, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    return k.imported;
  }

  /** Seals `secret` under the current key, bound to `tokenId`. */
  async seal(secret: Uint8Array, tokenId: string): Promise<SealedSecret> {
    const k = this.#keys[0];
    if (!k) {
      throw new SealingKeyError(
        "SEALING_KEY_REQUIRED",
        `a sealingKey is required to store HMAC signing keys: give new Keyward({ sealingKey }) 32 random bytes in base64 (${MAKE_SEALING_KEY}), or sign with ed25519`,
      );
    }
    const iv = secureRandom(IV_BYTES);
    const ct = await globalThis.crypto.subtle.encrypt(
      { name: "AES-GCM", iv: iv as BufferSource, additionalData: utf8(tokenId) as BufferSource },
      await this.#cryptoKey(k),
      secret as BufferSource,
    );
    return { kid: k.kid, iv: toBase64Url(iv), ciphertext: toBase64Url(new Uint8Array(ct)) };
  }

  /**
   * `sealed`, sealed anew under the current key; null when it is sealed
   * under the current key already (or no key is configured).
   *
   * @throws {SealingKeyError} as {@link open}
   */
  async reseal(sealed: SealedSecret, tokenId: string): Promise<SealedSecret | null> {
    if (this.#keys.length === 0 || sealed.kid === this.#keys[0]!.kid) return null;
    return this.seal(await this.open(sealed, tokenId), tokenId);
  }

  /**
   * Opens a sealed secret. Throws `SealingKeyError` (`SEALING_KEY_UNKNOWN`)
   * when its key is not configured, and on a failed authentication.
   */
  async open(sealed: SealedSecret, tokenId: string): Promise<Uint8Array> {
    const k = this.#keys.find((key) => key.kid === sealed.kid);
    if (!k) throw new SealingKeyError("SEALING_KEY_UNKNOWN", "the key that sealed this signing key is not configured");
    const iv = fromBase64(sealed.iv);
    const ct = fromBase64(sealed.ciphertext);
    if (!iv || !ct) throw new SealingKeyError("SEALING_KEY_UNKNOWN", "sealed signing key is corrupt");
    try {
      const pt = await globalThis.crypto.subtle.decrypt(
        { name: "AES-GCM", iv: iv as BufferSource, additionalData: utf8(tokenId) as BufferSource },
        await this.#cryptoKey(k),
        ct as BufferSource,
      );
      return new Uint8Array(pt);
    } catch {
      throw new SealingKeyError("SEALING_KEY_UNKNOWN", "sealed signing key failed authentication");
    }
  }

}
