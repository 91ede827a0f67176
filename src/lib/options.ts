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
export function optionNames<T>(names: { readonly [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(names);
}

/** The first name of `options` that is not in `known`; undefined when there is none. */
export function unknownOption(options: object, known: readonly string[]): string | undefined {
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
