// What a test can count in this process's heap: the strings still alive. A
// heap snapshot collects garbage first, so a string found is one something
// still holds: a retention test counts what a long-lived memory keeps.
import { getHeapSnapshot } from "node:v8";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * The sizes (bytes of their own) of the strings alive that hold `text` in
 * their first 1 024 characters (what V8's snapshot records of a string): a
 * view cut from a string takes a few bytes, the string it keeps alive its
 * whole length. A snapshot of a test worker's heap takes seconds, more on a
 * loaded machine: a test takes one, and its own timeout ({@link SNAPSHOT_TEST_TIMEOUT_MS}).
 */
export async function liveStringSizes(text: string): Promise<number[]> {
  let json = "";
  for await (const chunk of getHeapSnapshot()) json += String(chunk);
  const { snapshot, nodes, strings } = JSON.parse(json) as Snapshot;
  const fields = snapshot.meta.node_fields;
  const [type, name, size] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [number, number, number];
  const stringType = snapshot.meta.node_types[0].indexOf("string");
  const sizes: number[] = [];
  for (let i = 0; i < nodes.length; i += fields.length) {
    if (nodes[i + type] === stringType && strings[nodes[i + name]!]!.includes(text)) sizes.push(nodes[i + size]!);
  }
  return sizes;
}

/** How many strings alive hold `text` (as {@link liveStringSizes} finds them) and take more than `bytes` bytes of their own. */
export async function liveStrings(text: string, bytes: number): Promise<number> {
  return (await liveStringSizes(text)).filter((n) => n > bytes).length;
}

/**
 * The timeout of a test that takes a heap snapshot: one took 7.6 s, two over the suite's 20 s, with the
 * machine's 2 cores loaded (vitest's other worker, PostgreSQL, 3 busy processes).
 */
export const SNAPSHOT_TEST_TIMEOUT_MS = 90_000;
