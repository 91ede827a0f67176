import { parseInput, timestamp } from "../model/schemas.js";

/**
 * An admin-supplied time (epoch ms, Date or ISO-8601 string) as epoch ms, or
 * `fallback` when absent; read like `expiresAt` (a number that looks like
 * seconds is refused with `TIME_IN_SECONDS`).
 *
 * @throws {InvalidInputError} `INVALID_INPUT` or `TIME_IN_SECONDS`, naming `field`
 */
export function toEpochMs(value: number | Date | string | undefined, fallback: number, field: string): number {
  return value === undefined ? fallback : parseInput(timestamp, value, field);
}
