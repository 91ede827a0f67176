// Cursors of `list`, `listAudit` and the billing sums. The cursor is
// keyward's, not the adapter's: keyward decodes it into a sort key, the
// adapter returns the rows after that key, and keyward encodes the next cursor.
import { InvalidInputError } from "../../errors.js";
import { fromBase64, fromUtf8, toBase64Url, utf8 } from "../../lib/bytes.js";
import type { Page, PageOptions } from "../../model/types.js";
import type { BillingKey } from "./billing.js";

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
  const { t, i } = cursorFields(kind, cursor);
  if (typeof t !== "number" || !Number.isFinite(t) || typeof i !== "string") throw badCursor();
  return { t, id: i };
}

/** The cursor of a page of billing sums: the last owner and pool of the page. */
export function encodeBillingCursor(k: BillingKey): string {
  return toBase64Url(utf8(JSON.stringify({ k: "b", o: k.owner, p: k.pool })));
}

/** @throws {InvalidInputError} `INVALID_INPUT` naming `cursor` when it is not a cursor of billing sums */
export function decodeBillingCursor(cursor: string): BillingKey {
  const { o, p } = cursorFields("b", cursor);
  if (typeof o !== "string" || o.length === 0 || typeof p !== "string" || p.length === 0) throw badCursor();
  return { owner: o, pool: p };
}

const badCursor = () => new InvalidInputError("cursor", "invalid cursor");

/** The fields of a cursor of `kind` (`k`), decoded. */
function cursorFields(kind: string, cursor: string): Record<string, unknown> {
  const bytes = typeof cursor === "string" ? fromBase64(cursor) : null;
  if (!bytes || cursor.length === 0) throw badCursor();
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch {
    throw badCursor();
  }
  if (v === null || typeof v !== "object" || (v as { k?: unknown }).k !== kind) throw badCursor();
  return v as Record<string, unknown>;
}

/**
 * Validates page options and decodes the cursor.
 * @throws {InvalidInputError} `INVALID_INPUT` on a bad limit or cursor
 */
export function parsePage(options: PageOptions | undefined, kind: CursorKind): PageQuery {
  const limit = pageLimit(options);
  const cursor = options?.cursor;
  if (cursor === undefined || cursor === null) return { limit, after: null };
  if (typeof cursor !== "string") throw badCursor();
  return { limit, after: decodeCursor(kind, cursor) };
}

/**
 * The `limit` of page options (default {@link DEFAULT_PAGE_LIMIT}).
 * @throws {InvalidInputError} `INVALID_INPUT` naming `options` or `limit`
 */
export function pageLimit(options: PageOptions | undefined): number {
  if (options === undefined || options === null) return DEFAULT_PAGE_LIMIT;
  if (typeof options !== "object") throw new InvalidInputError("options", "must be an object");
  const { limit = DEFAULT_PAGE_LIMIT } = options;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new InvalidInputError("limit", `must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
  }
  return limit;
}

/**
 * A page from the rows an adapter returned for `{ limit: limit + 1, after }`:
 * the first `limit`, and a cursor (`cursorOf` the last of them) when there was one more.
 */
export function toPage<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: cursorOf(items[limit - 1]!) };
}
