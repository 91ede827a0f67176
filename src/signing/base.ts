// The signature base (RFC 9421 §2.5) and the `@signature-params` value (§2.3).
import { MAX_SF_INTEGER } from "./structured-serialize.js";
import {
  type ComponentContext,
  type ComponentId,
  componentContext,
  componentIdToString,
  componentKey,
  componentValue,
  type HttpMessage,
  parseComponentId,
} from "./components.js";
import { SignatureBaseError } from "./errors.js";
import { type Parameters, serializeInnerList, serializeItem } from "./structured.js";
import type { SignatureParamName, SignatureParams } from "./types.js";

/** Order in which present signature parameters are serialised when no order is given. */
export const DEFAULT_PARAM_ORDER: readonly SignatureParamName[] = ["created", "expires", "nonce", "keyid", "alg", "tag"];

const INTEGER_PARAMS = new Set<string>(["created", "expires"]);

const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;

/** Options of {@link signatureBase}. */
export interface SignatureBaseOptions {
  /** Covered components in order, e.g. `["@method", "@authority", "@path", "content-digest"]`. */
  components: readonly string[];
  /** Signature parameters; those absent are skipped (§2.3 step 5). */
  params: SignatureParams;
  /**
   * Order of the signature parameters in `@signature-params`. Default: present
   * ones in the order created, expires, nonce, keyid, alg, tag (with only
   * created, keyid and alg that is DESIGN's `["created", "keyid", "alg"]`).
   */
  order?: readonly SignatureParamName[] | undefined;
}

/**
 * Builds the RFC 9421 §2.5 signature base of a request: one line per covered
 * component, then the `@signature-params` line. This is what a signer signs;
 * a verifier rebuilds it from the received Signature-Input.
 *
 * @param message - A Fetch API `Request` (or a `Response`, whose only derived component is `@status`).
 * @param options - Covered components, signature parameters and their order.
 * @returns The signature base as a string (ASCII, lines joined by `\n`, no trailing newline).
 * @throws {SignatureBaseError} `INVALID_INPUT` with `reason` `COMPONENT_MISSING` (a covered field,
 *   dictionary key or query parameter is absent), `COMPONENT_DUPLICATED`, `COMPONENT_UNSUPPORTED`,
 *   `COMPONENT_INVALID`, `PARAMS_INVALID` or `NON_ASCII`.
 * @example
 * ```ts
 * const request = new Request("https://example.com/foo?a=1", { method: "POST" });
 * const base = signatureBase(request, {
 *   components: ["@method", "@authority", "@path", '@query-param;name="a"'],
 *   params: { created: 1618884473, keyid: "tok_123", alg: "ed25519" },
 * });
 * // "@method": POST
 * // "@authority": example.com
 * // "@path": /foo
 * // "@query-param";name="a": 1
 * // "@signature-params": ("@method" "@authority" "@path" "@query-param";name="a");created=1618884473;keyid="tok_123";alg="ed25519"
 * ```
 */
export function signatureBase(message: HttpMessage, options: SignatureBaseOptions): string {
  if (!Array.isArray(options?.components)) throw new TypeError("components must be an array of strings");
  const ids = options.components.map((c) => {
    if (typeof c !== "string") throw new TypeError("components must be an array of strings");
    return parseComponentId(c);
  });
  const params = signatureParameters(options.params ?? {}, options.order);
  return buildSignatureBase(message, ids, serializeInnerList([ids, params]));
}

/**
 * The signature parameters as structured-field Parameters, in order, skipping
 * absent ones (§2.3 step 5).
 *
 * @throws {SignatureBaseError} `PARAMS_INVALID` for an unknown or repeated name, a
 *   non-integer or out-of-range time, or a string that is not printable ASCII.
 */
export function signatureParameters(params: SignatureParams, order?: readonly SignatureParamName[]): Parameters {
  const names = order ?? DEFAULT_PARAM_ORDER;
  const out: Parameters = new Map();
  for (const name of names) {
    if (!DEFAULT_PARAM_ORDER.includes(name)) {
      throw new SignatureBaseError("PARAMS_INVALID", `unknown signature parameter "${String(name)}"`);
    }
    if (out.has(name)) throw new SignatureBaseError("PARAMS_INVALID", `signature parameter "${name}" repeated`);
    const value = params[name];
    if (value === undefined) continue;
    if (INTEGER_PARAMS.has(name)) {
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > MAX_SF_INTEGER) {
        throw new SignatureBaseError("PARAMS_INVALID", `${name} must be a non-negative integer (seconds)`);
      }
    } else if (typeof value !== "string" || !PRINTABLE_ASCII.test(value)) {
      throw new SignatureBaseError("PARAMS_INVALID", `${name} must be a printable ASCII string`);
    }
    out.set(name, value);
  }
  return out;
}

const BASE_TEXT = /^[\t\n\x20-\x7E]*$/;

/**
 * Builds the base from parsed component identifiers and the already
 * serialised `@signature-params` value (the verifier passes the received
 * Signature-Input member re-serialised strictly, §3.2 step 7); being a
 * structured-field serialisation, it is ASCII and not checked again. `fields`
 * replace header values of the message (the signer's computed Content-Digest);
 * `ctx` is the message's component context, when the caller makes its own.
 *
 * @throws {SignatureBaseError} as {@link signatureBase}.
 */
export function buildSignatureBase(
  message: HttpMessage,
  ids: readonly ComponentId[],
  paramsValue: string,
  fields?: Readonly<Record<string, string>>,
  ctx: ComponentContext = componentContext(message, fields),
): string {
  const seen = new Set<string>();
  let base = "";
  /** The first component whose value is not ASCII, if any. */
  let nonAscii: ComponentId | undefined;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const item = serializeItem(id);
    // §2.5 step 2.0: each identifier at most once (same name, same parameters
    // in any order); with at most one parameter the key is the serialised identifier, at hand.
    // §2.3: @signature-params is never listed.
    const key = id[1].size <= 1 ? item : componentKey(id);
    if (seen.has(key)) throw new SignatureBaseError("COMPONENT_DUPLICATED", "listed twice", componentIdToString(id));
    seen.add(key);
    if (id[0] === "@signature-params") {
      throw new SignatureBaseError("COMPONENT_UNSUPPORTED", "cannot be covered", "@signature-params");
    }
    const value = componentValue(ctx, id);
    // §2.5 step 4 (checked below): serialised identifiers and the serialised
    // Inner List in `paramsValue` are ASCII by construction; values may not be.
    if (nonAscii === undefined && !BASE_TEXT.test(value)) nonAscii = id;
    // §2.5 steps 2.1-2.6: identifier as serialised in the inner list, ": ", value, LF.
    base += `${item}: ${value}\n`;
  }
  base += `"@signature-params": ${paramsValue}`;
  // §2.5 step 4: ASCII only. Field values may hold HTAB; nothing else outside printable ASCII.
  if (nonAscii !== undefined) {
    // Derived components are ASCII as built; a field's value may not be: with ;bs its bytes are signed (§2.1.3).
    const name = componentIdToString(nonAscii);
    const message = name.startsWith("@") ? "value is not ASCII" : `field value is not ASCII; cover it as "${name};bs" to sign its bytes`;
    throw new SignatureBaseError("NON_ASCII", message, name);
  }
  return base;
}
