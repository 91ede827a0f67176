// The token format of DESIGN.md: `<prefix>_<pk|sk>_<live|test>_<body>`, where
// body = 43 random base62 characters (256 bits) + a 6-character base62
// CRC-32 of everything before the checksum.
import { BASE62, randomBase62, uint32ToBase62 } from "../lib/base62.js";
import { crc32Ascii, crc32Unappend } from "../lib/crc32.js";
import { type RandomSource, secureRandom, sha256Hex } from "../lib/crypto.js";

/** Publishable (`pk`, safe in a browser) or secret (`sk`, server-side only). */
export type TokenKind = "publishable" | "secret";
/** The environment a token belongs to. */
export type TokenEnv = "live" | "test";

/** The parts of a well-formed token. */
export interface ParsedToken {
  /** Application prefix, e.g. `acme`. */
  prefix: string;
  /** `publishable` (`pk`) or `secret` (`sk`). */
  kind: TokenKind;
  /** `live` or `test`. */
  env: TokenEnv;
  /** The 43 random characters. */
  body: string;
  /** The 6-character checksum. */
  checksum: string;
}

/** Why a string is not a token. Both are credential failures for the verifier. */
export type TokenFormatCode = "TOKEN_MALFORMED" | "TOKEN_CHECKSUM";

/** Result of {@link parseToken}: never throws, whatever it is given. */
export type ParseTokenResult =
  | {
      /** A token. */
      ok: true;
      /** Its parts. */
      token: ParsedToken;
    }
  | {
      /** Not a token. */
      ok: false;
      /** Why. */
      code: TokenFormatCode;
    };

/** Number of random base62 characters: 62^43 > 2^256. */
export const TOKEN_RANDOM_LENGTH = 43;
const CHECKSUM_LENGTH = 6;
const MAX_PREFIX = 16;
/** No valid token is longer: a cap applied before any parsing. */
export const MAX_TOKEN_LENGTH = MAX_PREFIX + "_sk_live_".length + TOKEN_RANDOM_LENGTH + CHECKSUM_LENGTH;

/** Prefixes: a lowercase letter then up to 15 lowercase letters or digits. */
export const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;
const TOKEN_PATTERN = /^([a-z][a-z0-9]{0,15})_(pk|sk)_(live|test)_([0-9A-Za-z]{49})$/;

const KIND_TAG = { publishable: "pk", secret: "sk" } as const;

/** Options of {@link generateToken}. */
export interface GenerateTokenOptions {
  /** Application prefix: a lowercase letter then up to 15 lowercase letters or digits. */
  prefix: string;
  /** `publishable` or `secret`. */
  kind: TokenKind;
  /** `live` or `test`. */
  env: TokenEnv;
  /** Random source; defaults to `crypto.getRandomValues`. Inject only in tests. */
  random?: RandomSource | undefined;
}

/**
 * Generates a new token string with 256 bits of randomness and a checksum.
 *
 * @param options prefix (`/^[a-z][a-z0-9]{0,15}$/`), kind and env
 * @returns the token, e.g. `acme_sk_live_…`
 * @throws {TypeError} when the prefix, kind or env is invalid
 * @example
 * ```ts
 * const token = generateToken({ prefix: "acme", kind: "secret", env: "live" });
 * ```
 */
export function generateToken(options: GenerateTokenOptions): string {
  const { prefix, kind, env } = options;
  if (typeof prefix !== "string" || !PREFIX_PATTERN.test(prefix)) {
    throw new TypeError("prefix must match /^[a-z][a-z0-9]{0,15}$/");
  }
  if (kind !== "publishable" && kind !== "secret") throw new TypeError('kind must be "publishable" or "secret"');
  if (env !== "live" && env !== "test") throw new TypeError('env must be "live" or "test"');
  const head = `${prefix}_${KIND_TAG[kind]}_${env}_${randomBase62(TOKEN_RANDOM_LENGTH, options.random ?? secureRandom)}`;
  return head + checksumOf(head);
}

function checksumOf(head: string): string {
  return uint32ToBase62(crc32Ascii(head));
}

const BASE62_DIGIT = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 62; i++) t[BASE62.charCodeAt(i)] = i;
  return t;
})();

/** The number the 6 checksum characters at `at` stand for, or -1 when they are not base62 or stand for more than 32 bits (no checksum does). */
function checksumAt(s: string, at: number): number {
  let v = 0;
  for (let i = at; i < at + CHECKSUM_LENGTH; i++) {
    const d = BASE62_DIGIT[s.charCodeAt(i)] ?? -1;
    if (d < 0) return -1;
    v = v * 62 + d;
  }
  return v > 0xffffffff ? -1 : v;
}

/**
 * Checks a string against the token format and its checksum, offline (no
 * store access). Never throws: a non-string, an over-long string, a wrong
 * charset, case, length or checksum all answer `{ ok: false, code }`.
 *
 * @param input anything, typically an untrusted header value
 * @returns the parsed parts, or the reason the input is not a token
 * @example
 * ```ts
 * const r = parseToken("acme_sk_live_…");
 * if (!r.ok) console.log(r.code); // "TOKEN_MALFORMED" | "TOKEN_CHECKSUM"
 * ```
 */
export function parseToken(input: unknown): ParseTokenResult {
  if (typeof input !== "string" || input.length > MAX_TOKEN_LENGTH) return { ok: false, code: "TOKEN_MALFORMED" };
  const m = TOKEN_PATTERN.exec(input);
  if (!m) return { ok: false, code: "TOKEN_MALFORMED" };
  const end = input.length - CHECKSUM_LENGTH;
  if (crc32Ascii(input, end) !== checksumAt(input, end)) return { ok: false, code: "TOKEN_CHECKSUM" };
  const tail = m[4]!;
  const body = tail.slice(0, TOKEN_RANDOM_LENGTH);
  const checksum = tail.slice(TOKEN_RANDOM_LENGTH);
  return {
    ok: true,
    token: { prefix: m[1]!, kind: m[2] === "pk" ? "publishable" : "secret", env: m[3] as TokenEnv, body, checksum },
  };
}

/**
 * @internal What {@link parseToken} decides, without building its parts (the
 * request path asks this of every token it has not cached): the length of
 * the prefix of a well-formed token with a valid checksum, else -1.
 */
export function wellFormedPrefixLength(input: string): number {
  if (input.length > MAX_TOKEN_LENGTH || !TOKEN_PATTERN.test(input)) return -1;
  const end = input.length - CHECKSUM_LENGTH;
  return crc32Ascii(input, end) === checksumAt(input, end) ? input.indexOf("_") : -1;
}

/**
 * The store's lookup key for a token: SHA-256 of the whole token string, as
 * 64 lowercase hex characters (the form a home-made system's hashes usually
 * take, so they can be imported).
 *
 * @param token the token string
 * @returns the hex digest
 * @example
 * ```ts
 * const key = hashToken(token); // "9f86d0…"
 * ```
 */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

/** How many body characters {@link tokenStart} keeps for display. */
const START_BODY_CHARS = 4;

/**
 * The displayable start of a token (`acme_sk_live_4qT9`): enough for a person
 * to recognise it, far too little to guess the rest.
 *
 * @param token a well-formed token
 * @returns prefix, kind, env and the first 4 body characters
 */
export function tokenStart(token: string): string {
  const at = token.lastIndexOf("_") + 1;
  return token.slice(0, at + START_BODY_CHARS);
}

/** Options of {@link findTokens}. */
export interface FindTokensOptions {
  /**
   * Only report tokens with one of these prefixes (each as `generateToken`
   * takes it). A scanner that knows them should give them: a candidate is
   * then anchored on a known prefix, and rejected without a checksum when
   * none is there.
   */
  prefixes?: readonly string[] | undefined;
}

/** A token found in a text by {@link findTokens}. */
export interface FoundToken extends ParsedToken {
  /** The token string. */
  token: string;
  /** Index of its first character in the text. */
  index: number;
}

// The fixed middle of a token and its 49 characters, with no boundary on
// either side: a token right after a letter, digit or `_` (`Bearer%20kw_…` in
// a URL, `"\nkw_…"` in JSON, `KEY_kw_…`) or before one is a token all the
// same. The prefix is then found by the checksum among the few lowercase runs
// before the middle. Bounded quantifiers only, so the scan is linear.
const FIND_PATTERN = /_(?:pk|sk)_(?:live|test)_[0-9A-Za-z]{49}/g;
/** The middle and the random characters: what the checksum covers after the prefix. */
const MIDDLE_AND_RANDOM = "_sk_live_".length + TOKEN_RANDOM_LENGTH;

const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/**
 * Finds every well-formed token in a text, for leak scanners (logs, commits,
 * pastes). Candidates whose checksum fails are not reported, so look-alikes
 * and typos produce no false positives; the checksum, not the characters
 * around it, decides, so a token glued to other text (URL- or JSON-escaped,
 * after `KEY_`) is found.
 *
 * Linear in the length of the text, whatever it holds: each candidate's
 * checksum is checked once, for all the prefixes it may have together (a
 * CRC-32 run backwards from the checksum over the characters before it), so
 * a text crafted to hold many candidates costs about two CRC steps per
 * character. With `prefixes`, a candidate without one of them costs none.
 *
 * @param text the text to scan
 * @param options `prefixes`: only tokens with one of these prefixes
 * @returns the tokens found, in order of appearance
 * @throws {TypeError} when the text is not a string, `prefixes` not an array of valid prefixes, or a `prefix` option is given
 * @example
 * ```ts
 * for (const found of findTokens(logText, { prefixes: ["acme"] })) console.log("leaked:", found.token.slice(0, 16), "at", found.index);
 * ```
 */
export function findTokens(text: string, options: FindTokensOptions = {}): FoundToken[] {
  if (typeof text !== "string") throw new TypeError("text must be a string");
  // `prefix` was the option's name before `prefixes`: refused, so it is not silently ignored.
  if (options !== null && typeof options === "object" && "prefix" in options) throw new TypeError("findTokens takes prefixes: [prefix], not prefix");
  const { prefixes } = options;
  if (prefixes !== undefined && (!Array.isArray(prefixes) || !prefixes.every((p) => typeof p === "string" && PREFIX_PATTERN.test(p)))) {
    throw new TypeError("prefixes must be an array of prefixes matching /^[a-z][a-z0-9]{0,15}$/");
  }
  const out: FoundToken[] = [];
  for (const m of text.matchAll(FIND_PATTERN)) {
    const middle = m.index;
    const head = middle + MIDDLE_AND_RANDOM;
    const checksum = checksumAt(text, head);
    if (checksum < 0) continue;
    // How far back a prefix may start: the lowercase letters and digits before
    // the middle (at most MAX_PREFIX), or the longest of `prefixes` there.
    let longest = 0;
    if (prefixes === undefined) {
      while (longest < MAX_PREFIX && longest < middle && (isLower(text.charCodeAt(middle - longest - 1)) || isDigit(text.charCodeAt(middle - longest - 1)))) longest++;
    } else {
      for (const p of prefixes) if (p.length > longest && p.length <= middle && text.startsWith(p, middle - p.length)) longest = p.length;
    }
    if (longest === 0) continue;
    // The CRC-32 the characters before the middle must have, then each start
    // from the nearest back: a prefix whose CRC-32 is that has the checksum.
    // The longest such prefix is the token's (two differ by chance: 1 in 2^32).
    let crc = crc32Unappend(checksum, text, middle, head);
    let start = -1;
    for (let at = middle - 1; at >= middle - longest; at--) {
      crc = crc32Unappend(crc, text, at, at + 1);
      if (crc !== 0 || !isLower(text.charCodeAt(at))) continue;
      if (prefixes === undefined || prefixes.some((p) => p.length === middle - at && text.startsWith(p, at))) start = at;
    }
    if (start < 0) continue;
    const token = text.slice(start, head + CHECKSUM_LENGTH);
    const parsed = parseToken(token);
    if (parsed.ok) out.push({ ...parsed.token, token, index: start });
  }
  return out;
}
