// Unhandled promise rejections during part of a test (Node ends a process on one by default).
import { setTimeout as sleep } from "node:timers/promises";

/** Runs `body`, then a few turns of the event loop, and answers the unhandled rejections seen meanwhile. */
export async function unhandledRejectionsOf(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", onRejection);
  try {
    await body();
    await sleep(20);
    return seen;
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}
