// Hashing, HMAC and randomness with the platform's native implementation where
// the runtime has one, and @noble/hashes everywhere else.
//
// Node, Deno and Bun expose `process.getBuiltinModule`, which hands us
// node:crypto synchronously without a static `node:` import, so this module
// stays loadable in browsers and edge workers (which fall back to noble).
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "./bytes.js";

type NodeCrypto = typeof import("node:crypto");

interface ProcessWithBuiltins {
  getBuiltinModule?: (id: string) => unknown;
}

function loadNodeCrypto(): NodeCrypto | undefined {
  try {
    const proc = (globalThis as { process?: ProcessWithBuiltins }).process;
    const mod = proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
    return mod && typeof mod.hash === "function" ? mod : undefined;
  } catch {
    return undefined;
  }
}

/** node:crypto when the runtime has it (Node >= 22.3, Deno, Bun), else undefined. */
export const nodeCrypto: NodeCrypto | undefined = loadNodeCrypto();

/** SHA-256 of the UTF-8 string, as 64 lowercase hex characters. */
export const sha256Hex: (s: string) => string = nodeCrypto
  ? ((c) => (s: string) => c.hash("sha256", s, "hex"))(nodeCrypto)
  : (s: string) => toHex(sha256(utf8(s)));

/** HMAC-SHA256(key, message) as bytes. */
export const hmacSha256: (key: Uint8Array, message: Uint8Array) => Uint8Array = nodeCrypto
  ? ((c) => (key: Uint8Array, message: Uint8Array) =>
      new Uint8Array(c.createHmac("sha256", key).update(message).digest()))(nodeCrypto)
  : (key: Uint8Array, message: Uint8Array) => hmac(sha256, key, message);

/** A source of cryptographically secure random bytes (injectable for deterministic tests). */
export type RandomSource = (n: number) => Uint8Array;

/** `crypto.getRandomValues`, available in every supported runtime. */
export const secureRandom: RandomSource = (n) => {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65 536 bytes per call.
  for (let o = 0; o < n; o += 65_536) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65_536)));
  return out;
};
