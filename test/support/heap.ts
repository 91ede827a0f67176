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
 * How many strings alive hold `text` in their first 1 024 characters (what
 * V8's snapshot records of a string) and take more than `bytes` bytes of
 * their own: a view cut from a string takes a few bytes, the string it
 * keeps alive its whole length.
 */
export async function liveStrings(text: string, bytes: number): Promise<number> {
  let json = "";
  for await (const chunk of getHeapSnapshot()) json += String(chunk);
  const { snapshot, nodes, strings } = JSON.parse(json) as Snapshot;
  const fields = snapshot.meta.node_fields;
  const [type, name, size] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [number, number, number];
  const stringType = snapshot.meta.node_types[0].indexOf("string");
  let n = 0;
  for (let i = 0; i < nodes.length; i += fields.length) {
    if (nodes[i + type] === stringType && nodes[i + size]! > bytes && strings[nodes[i + name]!]!.includes(text)) n++;
  }
  return n;
}
