// A signer configured from the environment, so keys stay out of source code.
// No `node:` import: the environment is `globalThis.process?.env` (Node, Bun,
// Deno) unless given, so this module is safe in a browser bundle too.
import { ConfigError } from "../errors.js";
import { fromBase64 } from "../lib/bytes.js";
import { type CreateSignerOptions, checkSignerKeyId, createSigner, type Signer, type SignerSettings } from "./create-signer.js";

/** Options of {@link signerFromEnv}: where to read, plus any {@link SignerSettings}. */
export interface SignerFromEnvOptions extends SignerSettings {
  /** Variable name prefix (default `"KEYWARD"`): `<prefix>_KEY_ID`, `<prefix>_ALG`, … */
  prefix?: string;
  /** The environment (default `globalThis.process?.env`). */
  env?: Record<string, string | undefined>;
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
 * Values are trimmed. Errors name the variable, never its value.
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
  const read = (name: string): string | undefined => {
    const value = env[name];
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
  const privateKey = read(names.privateKey);
  const token = read(names.token);
  const alg = read(names.alg) ?? inferAlg(names, privateKey, token);

  let key: CreateSignerOptions;
  if (alg === "ed25519") {
    if (privateKey === undefined) throw new ConfigError(names.privateKey, `is not set (required when ${names.alg} is ed25519)`);
    const seed = fromBase64(privateKey);
    if (seed === null || seed.length !== 32) {
      throw new ConfigError(names.privateKey, "must be a 32-byte Ed25519 seed, base64url-encoded");
    }
    key = { keyId, alg, privateKey: seed };
  } else if (alg === "hmac-sha256") {
    if (token === undefined) throw new ConfigError(names.token, `is not set (required when ${names.alg} is hmac-sha256)`);
    if (token === keyId) throw new ConfigError(names.keyId, `equals ${names.token}; set it to the token's public id (tok_…)`);
    key = { keyId, alg, token };
  } else {
    throw new ConfigError(names.alg, 'must be "ed25519" or "hmac-sha256"');
  }

  try {
    // Every key problem was reported above, naming its variable; what is left is the caller's settings.
    return createSigner({ ...settings, ...key });
  } finally {
    if (key.alg === "ed25519" && key.privateKey instanceof Uint8Array) key.privateKey.fill(0); // createSigner keeps a copy
  }
}

function inferAlg(names: { alg: string; privateKey: string; token: string }, privateKey?: string, token?: string): string {
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
