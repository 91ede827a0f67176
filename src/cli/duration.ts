// Durations as the CLI writes them (`500ms`, `30s`, `5m`, `1h`, `7d`; parseDuration in ./command.ts reads them).

/** The units of a duration, in milliseconds. */
export const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as `parseDuration` reads each of its parts, largest first: `30d`, `1h 30m`, `1s 500ms`; none is `0ms`. */
export function formatDuration(ms: number): string {
  let rest = ms;
  const parts: string[] = [];
  for (const [unit, size] of Object.entries(UNITS).reverse()) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join(" ") || "0ms";
}

/**
 * A message of the library's about a setting in milliseconds (a field named `…Ms`), its numbers (the
 * limits it states) written in the unit the option was typed in, `typed` being the option's value or
 * values (`--grace 40d`: "from 0d to 30d", not "from 0 to 2592000000"; a duration after a `/`, as in
 * `--rate-limit 5/1h`, counts). A number that is no whole count of that unit, or options typed in several
 * units, are written as {@link formatDuration} writes them.
 */
export function inTypedUnit(message: string, typed: unknown): string {
  const texts = (Array.isArray(typed) ? typed : [typed]).filter((t): t is string => typeof t === "string");
  const units = new Set(texts.map((t) => /\d(ms|s|m|h|d)?$/.exec(t)?.[1] ?? "ms"));
  const unit = units.size === 1 ? [...units][0]! : undefined;
  return message.replace(/\b\d+\b/g, (digits) => {
    const ms = Number(digits);
    const size = unit === undefined ? undefined : UNITS[unit]!;
    return size !== undefined && ms % size === 0 ? `${ms / size}${unit}` : formatDuration(ms);
  });
}
