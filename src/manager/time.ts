import { InvalidInputError } from "../errors.js";

/**
 * An admin-supplied time (epoch ms or Date) as epoch ms, or `fallback` when
 * absent. Throws `InvalidInputError` naming `field` for anything else.
 */
export function toEpochMs(value: number | Date | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  const ms = value instanceof Date ? value.getTime() : value;
  if (!Number.isSafeInteger(ms) || ms < 0) throw new InvalidInputError(field, "must be a valid time (epoch ms or Date)");
  return ms;
}
