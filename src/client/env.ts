// A signer configured from the environment, so keys stay out of source code.
// No `node:` import: the environment is `globalThis.process?.env` (Node, Bun,
// Deno) unless given, so this module is safe in a browser bundle too.
import { ConfigError } from "../errors.js";
import { fromBase64 } from "../lib/bytes.js";
import { type CreateSignerOptions, checkSignerKeyId, createSigner, type Signer, type SignerSettings } from "./create-signer.js";

/** Options of {@link signerFromEnv}: where to read, plus any {@link SignerSettings}. */
export interface SignerFromEnvOptions extends SignerSettings {
  /** Variable name prefix (default `"KEYWARD"`): `<prefix>_KEY_ID`, `<prefix>_ALG`, … */
  prefix?: string | undefined;
  /** The environment (default `globalThis.process?.env`). */
  env?: Record<string, string | undefined> | undefined;
}

const PREFIX = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Creates a {@link Signer} from environment variables:
 *
 * - `<prefix>_KEY_ID`: the token's public id (`tok_…`), required;
 * - `<prefix>_ALG`: `ed25519` or `hmac-sha256`; optional when only one key variable is set;
 * - `<prefix>_PRIVATE_KEY`: the Ed25519 32-byte seed, base64url (or base64);
 * - `<prefix>_TOKEN`: the token, for `hmac-sha256` (the signing secret is derived from it).
 *
 * Values are trimmed. Errors name the variable, never its value. Only the
 * variables needed are read: with `<prefix>_ALG` set, not the other
 * algorithm's key (a runtime that grants access per variable, as Deno's
 * `--allow-env=…` does, need grant only those); a variable the runtime
 * refuses to read is a `ConfigError` naming it ("cannot be read").
 *
 * @param options - Prefix, environment, and signer settings.
 * @returns A Signer.
 * @throws {ConfigError} (`INVALID_CONFIG`, `field` = the variable's name) when a variable is missing,
 *   malformed or contradicts another.
 * @throws {TypeError} / {RangeError} for invalid `options`, as {@link createSigner}.
 * @example
 * ```ts
 * // KEYWARD_KEY_ID=tok_4qTz8Rk2mXbN7wLcP1dYeF KEYWARD_PRIVATE_KEY=<base64url seed>
 * const api = signedFetch(signerFromEnv());
 * ```
 */
export function signerFromEnv(options: SignerFromEnvOptions = {}): Signer {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  const { prefix = "KEYWARD", env = processEnv(), ...settings } = options;
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new TypeError("prefix must be letters, digits and underscores, not starting with a digit");
  }
  if (env === null || typeof env !== "object") throw new TypeError("env must be an object");

  const names = {
    keyId: `${prefix}_KEY_ID`,
    alg: `${prefix}_ALG`,
    privateKey: `${prefix}_PRIVATE_KEY`,
    token: `${prefix}_TOKEN`,
  };
  // Each variable is read only when needed (KEY_ID, ALG, then the key that ALG names), so a runtime
  // that grants access per variable (Deno's --allow-env=…) needs only those; one it refuses is named.
  const read = (name: string): string | undefined => {
    let value: unknown;
    try {
      value = env[name];
    } catch (cause) {
      throw new ConfigError(name, "cannot be read", { cause });
    }
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw new ConfigError(name, "must be a string");
    const trimmed = value.trim();
    return trimmed === "" ? undefined : trimmed;
  };

  const keyId = read(names.keyId);
  if (keyId === undefined) throw new ConfigError(names.keyId, "is not set");
  try {
    checkSignerKeyId(keyId);
  } catch (err) {
    throw new ConfigError(names.keyId, (err as Error).message);
  }
  const stated = read(names.alg);
  if (stated !== undefined && stated !== "ed25519" && stated !== "hmac-sha256") {
    throw new ConfigError(names.alg, 'must be "ed25519" or "hmac-sha256"');
  }
  const privateKey = stated === "hmac-sha256" ? undefined : read(names.privateKey);
  const token = stated === "ed25519" ? undefined : read(names.token);
  const alg = stated ?? inferAlg(names, privateKey, token);

  let key: CreateSignerOptions;
  if (alg === "ed25519") {
    if (privateKey === undefined) throw new ConfigError(names.privateKey, `is not set (required when ${names.alg} is ed25519)`);
    const seed = fromBase64(privateKey);
    if (seed === null || seed.length !== 32) {
      throw new ConfigError(names.privateKey, "must be a 32-byte Ed25519 seed, base64url-encoded");
    }
    key = { keyId, alg, privateKey: seed };
  } else {
    if (token === undefined) throw new ConfigError(names.token, `is not set (required when ${names.alg} is hmac-sha256)`);
    if (token === keyId) throw new ConfigError(names.keyId, `equals ${names.token}; set it to the token's public id (tok_…)`);
    key = { keyId, alg, token };
  }

  try {
    // Every key problem was reported above, naming its variable; what is left is the caller's settings.
    return createSigner({ ...settings, ...key });
  } finally {
    if (key.alg === "ed25519" && key.privateKey instanceof Uint8Array) key.privateKey.fill(0); // createSigner keeps a copy
  }
}

function inferAlg(names: { alg: string; privateKey: string; token: string }, privateKey?: string, token?: string): "ed25519" | "hmac-sha256" {
  if (privateKey !== undefined && token !== undefined) {
    throw new ConfigError(names.alg, `is not set and both ${names.privateKey} and ${names.token} are: set it to choose`);
  }
  if (privateKey !== undefined) return "ed25519";
  if (token !== undefined) return "hmac-sha256";
  throw new ConfigError(names.privateKey, `is not set (nor ${names.token}): one key is required`);
}

function processEnv(): Record<string, string | undefined> {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env ?? {};
}
