// Cursors of `list` and `listAudit`. The cursor is keyward's, not the
// adapter's: the guard decodes it into a sort key, the adapter returns the
// rows after that key, and the guard encodes the next cursor.
import { InvalidInputError } from "../../errors.js";
import { fromBase64, fromUtf8, toBase64Url, utf8 } from "../../lib/bytes.js";
import type { Page, PageOptions } from "../../model/types.js";

/** A position in a listing: (time, id), ordered by time then by id in code-unit order. */
export interface SortKey {
  readonly t: number;
  readonly id: string;
}

/** Rows per page when no limit is given. */
export const DEFAULT_PAGE_LIMIT = 100;
/** Largest `limit` of a page. */
export const MAX_PAGE_LIMIT = 1000;

/** What an adapter's listing receives: at most `limit` rows strictly after `after` (from the start when null). */
export interface PageQuery {
  readonly limit: number;
  readonly after: SortKey | null;
}

/** Which listing a cursor belongs to, so a token cursor is refused by the audit log. */
export type CursorKind = "t" | "a";

/**
 * The order of listings: by time, then by id in code-unit order (not by
 * locale or collation). Negative when `a` comes first, 0 when equal. An
 * adapter's `list` and `listAudit` return rows in this order, strictly after
 * `page.after`.
 */
export function compareKeys(a: SortKey, b: SortKey): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function encodeCursor(kind: CursorKind, k: SortKey): string {
  return toBase64Url(utf8(JSON.stringify({ k: kind, t: k.t, i: k.id })));
}

export function decodeCursor(kind: CursorKind, cursor: string): SortKey {
  const bad = () => new InvalidInputError("cursor", "invalid cursor");
  const bytes = fromBase64(cursor);
  if (!bytes || cursor.length === 0) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch {
    throw bad();
  }
  if (v === null || typeof v !== "object") throw bad();
  const { k, t, i } = v as { k?: unknown; t?: unknown; i?: unknown };
  if (k !== kind || typeof t !== "number" || !Number.isFinite(t) || typeof i !== "string") throw bad();
  return { t, id: i };
}

/**
 * Validates page options and decodes the cursor.
 * @throws {InvalidInputError} `INVALID_INPUT` on a bad limit or cursor
 */
export function parsePage(options: PageOptions | undefined, kind: CursorKind): PageQuery {
  if (options === undefined || options === null) return { limit: DEFAULT_PAGE_LIMIT, after: null };
  if (typeof options !== "object") throw new InvalidInputError("options", "must be an object");
  const { limit = DEFAULT_PAGE_LIMIT, cursor } = options;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new InvalidInputError("limit", `must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
  }
  if (cursor === undefined || cursor === null) return { limit, after: null };
  if (typeof cursor !== "string") throw new InvalidInputError("cursor", "invalid cursor");
  return { limit, after: decodeCursor(kind, cursor) };
}

/**
 * A page from the rows an adapter returned for `{ limit: limit + 1, after }`:
 * the first `limit`, and a cursor when there was one more.
 */
export function toPage<T>(rows: T[], limit: number, kind: CursorKind, keyOf: (row: T) => SortKey): Page<T> {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(kind, keyOf(items[limit - 1]!)) };
}
