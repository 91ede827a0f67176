// Options of the application's setup calls (middleware, the admin handler,
// stores, anomaly detectors, verifyRequest): a name that is not an option is
// refused, never ignored, since a misspelt one would silently turn off what
// it asks for.
import { ConfigError } from "../errors.js";

/** The first name of `options` that is not in `known`; undefined when there is none. */
export function unknownOption(options: object, known: ReadonlySet<string>): string | undefined {
  for (const key of Object.keys(options)) if (!known.has(key)) return key;
  return undefined;
}

/**
 * Refuses an option of `options` whose name is not in `known`.
 *
 * @param what the options' kind, as in "is not a route option"
 * @param path the options' own path, prefixed to the field (`"anomalies.spike."`)
 * @throws {ConfigError} `INVALID_CONFIG` naming the unknown option
 */
export function checkConfigFields(options: object, known: ReadonlySet<string>, what: string, path = ""): void {
  const key = unknownOption(options, known);
  if (key !== undefined) throw new ConfigError(`${path}${key}`, `is not ${what} (${[...known].join(", ")})`);
}
