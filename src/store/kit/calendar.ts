// UTC calendar periods of credit pools that reset every day or month. The
// length of a month (28 to 31 days, leap years) is Date.UTC's business:
// month 12 of a year is January of the next, day 0 of a month the last of
// the one before.
import type { CalendarReset } from "../../model/types.js";

/** Start of the UTC calendar day or month holding `at`. */
export function periodStartUtc(at: number, reset: CalendarReset): number {
  const d = new Date(at);
  return reset === "day"
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Start of the UTC calendar day or month after the one holding `at`. */
export function nextPeriodStartUtc(at: number, reset: CalendarReset): number {
  const d = new Date(at);
  return reset === "day"
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
