// keyward's schemas are written with `zod/mini`, whose functions a bundler
// keeps only when used (zod's classic API, with a method for everything, is
// 450 KB in every bundle). Two small helpers for what the classic API said
// with a method: `zod/mini` has no English messages of its own, and an
// integer in a range is three checks.

import { en } from "zod/locales";
import * as z from "zod/mini";

/**
 * The options of every keyward parse: zod's English messages, as the
 * classic API sets them, given per parse so that keyward never changes the
 * application's zod settings (`z.config`), nor its messages with them.
 */
export const ENGLISH = { error: en().localeError } as const;

/** An integer from `min` to `max` (classic: `z.number().int().min(min).max(max)`). */
export const integer = (min: number, max: number) => z.number().check(z.int(), z.minimum(min), z.maximum(max));
