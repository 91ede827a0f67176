// Options of the application's calls (middleware, the admin handler, stores,
// anomaly detectors, verifyRequest, the verifier): a name that is not an
// option is refused, never ignored, since a misspelt one would silently turn
// off what it asks for.
import { ConfigError } from "../errors.js";

/**
 * The field names of the options type `T`, checked by the compiler against
 * it: a field `T` gains and the list lacks (or one it lists that `T` does not
 * have) fails to compile, so the refusal of unknown names never refuses a
 * real option.
 */
export function optionNames<T>(names: { readonly [K in KeysOf<Required<T>>]: true }): readonly string[] {
  return Object.keys(names);
}

/** Every field name of `T`, of each member of a union (`keyof` of a union gives only the names all members share). */
type KeysOf<T> = T extends unknown ? keyof T : never;

/** The first name of `options` that is not in `known`; undefined when there is none. */
function unknownOption(options: object, known: readonly string[]): string | undefined {
  for (const key of Object.keys(options)) if (!known.includes(key)) return key;
  return undefined;
}

/**
 * Refuses an option of `options` whose name is not in `known`.
 *
 * @param what the options' kind, as in "is not a route option"
 * @param path the options' own path, prefixed to the field (`"anomalies.spike."`)
 * @throws {ConfigError} `INVALID_CONFIG` naming the unknown option
 */
export function checkConfigFields(options: object, known: readonly string[], what: string, path = ""): void {
  const key = unknownOption(options, known);
  if (key !== undefined) throw new ConfigError(`${path}${key}`, `is not ${what} (${known.join(", ")})`);
}

/**
 * Refuses an option of `options` whose name is not in `known`, for the
 * functions whose misuse is a `TypeError` (`verifyRequest`,
 * `createLeakReceiver`). The name is shown only when it is a plain
 * identifier: a `TypeError` is not redacted, and every keyward token has a `_`.
 *
 * @param what the function, as in "is not an option of verifyRequest"
 * @throws {TypeError} naming the unknown option
 */
export function checkOptionNames(options: object, known: readonly string[], what: string): void {
  const key = unknownOption(options, known);
  if (key === undefined) return;
  const shown = /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(key) ? key : "<field>";
  throw new TypeError(`options.${shown} is not an option of ${what} (${known.join(", ")})`);
}
