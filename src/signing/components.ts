// Component identifiers and component values (RFC 9421 §2).
import { fromUtf8 } from "../lib/bytes.js";
import { SignatureBaseError, type SignatureBaseErrorReason } from "./errors.js";
import {
  type Dictionary,
  type Item,
  parseDictionary,
  parseItem,
  serializeItem,
  serializeMember,
  serializeParameters,
  serializeString,
  strictSerializeField,
} from "./structured.js";

/** An HTTP message a signature base can be built from: a Fetch API Request, or a Response for `@status`. */
export type HttpMessage = Request | Response;

/** A parsed component identifier: a structured-field String item with its parameters (RFC 9421 §2). */
export type ComponentId = Item;

/** RFC 9110 §5.1 field-name (token), lowercased as RFC 9421 §2.1 requires. */
export const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * Parses a component identifier written by a caller: either the serialised
 * form (`"@query-param";name="id"`) or the same with the name unquoted
 * (`@query-param;name="id"`, `content-type`). Field names are lowercased.
 *
 * @throws {SignatureBaseError} `COMPONENT_INVALID` when it is not a String item with valid parameters.
 */
export function parseComponentId(input: string): ComponentId {
  let id = parsedIds.get(input);
  if (id === undefined) {
    id = parseComponentIdUncached(input);
    if (parsedIds.size >= 256) parsedIds.delete(parsedIds.keys().next().value as string);
    parsedIds.set(input, id);
  }
  return id;
}

// Identifiers come from configuration (components lists, `required`), so a
// few strings recur; the parsed forms are shared and never mutated.
const parsedIds = new Map<string, ComponentId>();

function parseComponentIdUncached(input: string): ComponentId {
  let text = input;
  if (!input.startsWith('"')) {
    const semi = input.indexOf(";");
    const name = semi < 0 ? input : input.slice(0, semi);
    const lower = name.toLowerCase();
    try {
      text = serializeString(lower.startsWith("@") ? name : lower) + (semi < 0 ? "" : input.slice(semi));
    } catch {
      throw new SignatureBaseError("COMPONENT_INVALID", "not a valid component identifier", input);
    }
  }
  const item = parseItem(text);
  if (item === null) throw new SignatureBaseError("COMPONENT_INVALID", "not a valid component identifier", input);
  if (typeof item[0] !== "string") {
    throw new SignatureBaseError("COMPONENT_INVALID", "component name must be a string", input);
  }
  return item;
}

/** The readable form of a component identifier: the name unquoted, then its parameters (`@query-param;name="id"`). */
export function componentIdToString(id: ComponentId): string {
  const [name, params] = id;
  // A name that is not a String (the verifier refuses it) reads as its serialisation.
  if (typeof name !== "string") return serializeItem(id);
  return params.size === 0 ? name : name + serializeParameters(params);
}

/**
 * Equality of component identifiers: same name and the same set of
 * parameters, in any order (RFC 9421 §2: "the order of parameters is not
 * significant when comparing two component identifiers").
 */
export function componentKey(id: ComponentId): string {
  // With at most one parameter, the order cannot differ: the serialised identifier.
  if (id[1].size <= 1) return serializeItem(id);
  const params = [...id[1]].map(([k, v]) => serializeItem([true, new Map([[k, v]])]).slice(2)).sort();
  return `${serializeString(String(id[0]))}${params.join("")}`;
}

/** Per-message state shared by every component of one signature base. */
export interface ComponentContext {
  readonly message: HttpMessage;
  readonly isRequest: boolean;
  /**
   * The target URI (RFC 9110 §7.1): the request's URL without its fragment,
   * which fetch never sends, nor an empty query's "?", which some fetch
   * implementations drop (a "?" that ends a non-empty query is kept).
   */
  target(): string;
  /** {@link target}, parsed. */
  url(): URL;
  /** The combined value of a header field (lowercase name), or null when absent. */
  field(name: string): string | null;
  /** The parameter name that `@query-param;name` designates (see {@link decodedQueryName}). */
  queryName(encoded: string): string | undefined;
  /** The value of the query parameter named `name` (decoded): null when it occurs more than once, undefined when absent. */
  queryParam(name: string): string | null | undefined;
  /** A header field value parsed as a Dictionary (null when it is not one), once per value. */
  dictionary(value: string): Dictionary | null;
  /** The strict serialisation of a structured field (RFC 9421 §2.1.1; null when it is not one). */
  structuredField(name: string, value: string): string | null;
}

/**
 * Wraps a message so its URL, its query and each Dictionary field are parsed
 * at most once, however many components refer to them. `fields` are header
 * values that replace the message's own (the signer's computed Content-Digest).
 */
export function componentContext(message: HttpMessage, fields?: Readonly<Record<string, string>>): ComponentContext {
  return new MessageContext(message, fields);
}

/** The component context of a message (see {@link componentContext}); the verifier extends it to count its work. */
export class MessageContext implements ComponentContext {
  readonly isRequest: boolean;
  #target: string | undefined;
  #url: URL | undefined;
  /** The parsed query (by {@link queryParam}) and Dictionary field values (by {@link dictionary}), once made. */
  queryMap: Map<string, string | null> | undefined;
  dictionaries: Map<string, Dictionary | null> | undefined;
  constructor(
    readonly message: HttpMessage,
    readonly fields: Readonly<Record<string, string>> | undefined,
  ) {
    this.isRequest = typeof (message as Request).method === "string";
  }
  target(): string {
    if (this.#target === undefined) {
      const url = (this.message as Request).url;
      const hash = url.indexOf("#");
      const end = hash < 0 ? url.length : hash;
      // An empty query ("…?") is no query, as @query and @request-target read it:
      // Node 24's fetch sends the "?", Node 22's drops it, so neither side signs it.
      // Only an empty one: a "?" that ends a non-empty query is part of it (`?dryRun?`
      // names the parameter "dryRun?", not "dryRun").
      const cut = url.indexOf("?") === end - 1 ? end - 1 : end;
      this.#target = cut === url.length ? url : url.slice(0, cut);
    }
    return this.#target;
  }
  url(): URL {
    this.#url ??= new URL(this.target());
    return this.#url;
  }
  field(name: string): string | null {
    const { fields } = this;
    return fields !== undefined && Object.hasOwn(fields, name) ? fields[name]! : this.message.headers.get(name);
  }
  queryName(encoded: string): string | undefined {
    return decodedQueryName(encoded);
  }
  queryParam(name: string): string | null | undefined {
    if (this.queryMap === undefined) {
      // URLSearchParams parses per "application/x-www-form-urlencoded parsing" (§2.2.8 step 1).
      this.queryMap = new Map();
      for (const [n, v] of new URLSearchParams(this.url().search)) this.queryMap.set(n, this.queryMap.has(n) ? null : v);
    }
    return this.queryMap.get(name);
  }
  structuredField(name: string, value: string): string | null {
    return strictSerializeField(name, value);
  }
  dictionary(value: string): Dictionary | null {
    this.dictionaries ??= new Map();
    let dict = this.dictionaries.get(value);
    if (dict === undefined) {
      dict = parseDictionary(value);
      this.dictionaries.set(value, dict);
    }
    return dict;
  }
}

/**
 * The canonical component value of one covered component (RFC 9421 §2.1 for
 * fields, §2.2 for derived components).
 *
 * @throws {SignatureBaseError} when the value cannot be derived (§2.5: "produce an error").
 */
export function componentValue(ctx: ComponentContext, id: ComponentId): string {
  const name = id[0];
  if (typeof name !== "string") throw new SignatureBaseError("COMPONENT_INVALID", "component name must be a string");
  // Unsupported parameters are refused by each kind below, among them §2.4 `req` (for responses
  // signing parts of their request) and §2.1.5 `tr` (trailers, which the Fetch API does not expose).
  return name.charCodeAt(0) === 0x40 /* @ */ ? derivedValue(ctx, name, id) : fieldValue(ctx, name, id);
}

/** The error for a component; its readable name is only built when something fails. */
function failure(reason: SignatureBaseErrorReason, message: string, id: ComponentId): SignatureBaseError {
  return new SignatureBaseError(reason, message, componentIdToString(id));
}

function derivedValue(ctx: ComponentContext, name: string, id: ComponentId): string {
  const params = id[1];
  if (params.size > 0) {
    for (const key of params.keys()) {
      if (!(key === "name" && name === "@query-param")) throw failure("COMPONENT_UNSUPPORTED", `unknown parameter "${key}"`, id);
    }
  }
  if (name === "@status") {
    // §2.2.9: responses only.
    if (ctx.isRequest) throw failure("COMPONENT_UNSUPPORTED", "@status is for responses", id);
    return String((ctx.message as Response).status);
  }
  if (!ctx.isRequest) throw failure("COMPONENT_UNSUPPORTED", "request component on a response", id);
  const request = ctx.message as Request;
  switch (name) {
    case "@method": // §2.2.1: as sent, no case change
      return request.method;
    case "@target-uri": // §2.2.2: the absolute target URI (no fragment: RFC 9110 §7.1)
      return ctx.target();
    case "@authority": // §2.2.3: host lowercased, default port omitted (WHATWG URL does both)
      return ctx.url().host;
    case "@scheme": // §2.2.4
      return ctx.url().protocol.slice(0, -1).toLowerCase();
    case "@request-target": // §2.2.5: origin form, the only one a Fetch Request carries
      return `${ctx.url().pathname}${ctx.url().search}`;
    case "@path": // §2.2.6: empty path is "/"; percent-encoding kept as is
      return ctx.url().pathname || "/";
    case "@query": // §2.2.7: with the leading "?", or "?" alone when absent
      return ctx.url().search || "?";
    case "@query-param":
      return queryParamValue(ctx, params.get("name"), id);
    default:
      throw failure("COMPONENT_UNSUPPORTED", "unknown derived component", id);
  }
}

/** Characters the application/x-www-form-urlencoded percent-encode set leaves as they are. */
const UNRESERVED = /^[A-Za-z0-9*\-._]*$/;

/**
 * "Percent-encode after encoding" with the application/x-www-form-urlencoded
 * percent-encode set (WHATWG URL), as RFC 9421 §2.2.8 requires for names and
 * values: everything but ASCII alphanumerics and `*-._` is encoded, spaces
 * as `%20` (the RFC's example turns `with+plus+whitespace` into
 * `with%20plus%20whitespace`).
 */
function encodeQueryComponent(s: string): string {
  if (UNRESERVED.test(s)) return s;
  const encoded = encodeURIComponent(s);
  return MARKS.test(encoded) ? encodeMarks(encoded) : encoded;
}

/** What encodeURIComponent leaves and the form-urlencoded set encodes. */
const MARKS = /[!'()~]/;

/**
 * `encoded` (ASCII, as encodeURIComponent writes it) with `!'()~` encoded
 * too, written as bytes and decoded once: a replace with a callback per
 * character cost about 70 ns each, half a millisecond for an 8 KiB value.
 */
function encodeMarks(encoded: string): string {
  const out = new Uint8Array(encoded.length * 3);
  let j = 0;
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i);
    if (c === 0x21 || c === 0x27 || c === 0x28 || c === 0x29 || c === 0x7e) {
      out[j++] = 0x25; // %
      out[j++] = UPPER_HEX.charCodeAt(c >> 4);
      out[j++] = UPPER_HEX.charCodeAt(c & 15);
    } else {
      out[j++] = c;
    }
  }
  return fromUtf8(out.subarray(0, j)); // ASCII
}
const UPPER_HEX = "0123456789ABCDEF";

/**
 * The parameter name that `@query-param;name` designates: encoding is one-to-one, so the
 * parameter whose encoded name is `name` is the one named decode(name), if `name` is an
 * encoding at all (undefined otherwise).
 */
export function decodedQueryName(name: string): string | undefined {
  if (UNRESERVED.test(name)) return name; // its own encoding and decoding
  try {
    const decoded = decodeURIComponent(name);
    return encodeQueryComponent(decoded) === name ? decoded : undefined;
  } catch {
    return undefined;
  }
}

function queryParamValue(ctx: ComponentContext, name: unknown, id: ComponentId): string {
  if (typeof name !== "string") throw failure("COMPONENT_INVALID", "@query-param needs a name", id);
  const decoded = ctx.queryName(name);
  // Invalid escapes decode to U+FFFD too, so such a name could only be found by decoding every
  // escaped name of the query (slow, see QueryIndex.get): the verifier does not look for it, and
  // a signer must not sign what it would refuse.
  if (decoded?.includes("\uFFFD")) throw failure("COMPONENT_UNSUPPORTED", "query parameter name holds U+FFFD", id);
  const value = decoded === undefined ? undefined : ctx.queryParam(decoded);
  if (value === undefined) throw failure("COMPONENT_MISSING", "query parameter not present", id);
  // §2.2.8: a name that occurs more than once MUST NOT be signed.
  if (value === null) throw failure("COMPONENT_UNSUPPORTED", "query parameter repeated", id);
  return encodeQueryComponent(value);
}

function fieldValue(ctx: ComponentContext, name: string, id: ComponentId): string {
  const params = id[1];
  if (!FIELD_NAME.test(name)) throw failure("COMPONENT_INVALID", "not a lowercase field name", id);
  for (const [key, value] of params) {
    const ok = key === "key" ? typeof value === "string" : (key === "sf" || key === "bs") && value === true;
    if (!ok) throw failure("COMPONENT_UNSUPPORTED", `unknown or invalid parameter "${key}"`, id);
  }
  if (params.has("bs") && (params.has("sf") || params.has("key"))) {
    // §2.1: bs needs the raw values, sf and key the parsed ones.
    throw failure("COMPONENT_UNSUPPORTED", "bs cannot be combined with sf or key", id);
  }
  // The Fetch API already combines repeated fields with ", " and strips
  // leading and trailing whitespace (§2.1 steps 1-4; obs-fold cannot occur).
  const combined = ctx.field(name);
  if (combined === null) throw failure("COMPONENT_MISSING", "header field not present", id);

  const key = params.get("key");
  if (typeof key === "string") {
    // §2.1.2: one member of a Dictionary, strictly serialised.
    const dict = ctx.dictionary(combined);
    if (dict === null) throw failure("COMPONENT_INVALID", "field is not a Dictionary", id);
    const member = dict.get(key);
    if (member === undefined) throw failure("COMPONENT_MISSING", "dictionary key not present", id);
    return serializeMember(member);
  }
  if (params.has("sf")) {
    // §2.1.1: strict serialisation of the structured field.
    const strict = ctx.structuredField(name, combined);
    if (strict === null) throw failure("COMPONENT_INVALID", "field is not a structured field", id);
    return strict;
  }
  if (params.has("bs")) {
    // §2.1.3: each field line as a Byte Sequence. The Fetch API hands out
    // separate lines only for Set-Cookie; other fields arrive already combined.
    const headers = ctx.message.headers;
    const lines = name === "set-cookie" && typeof headers.getSetCookie === "function" ? headers.getSetCookie() : [combined];
    // A field line is a ByteString (one byte per code unit, as Fetch Headers hold them): the bytes
    // btoa encodes, natively (a loop over the bytes cost about 20 ns per character).
    return lines.map((line) => `:${btoa(line)}:`).join(", ");
  }
  return combined;
}
