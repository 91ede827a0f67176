// Child processes that print JSON lines, for the cross-process store tests.
import { type ChildProcess, spawn } from "node:child_process";

export interface Run {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the first line matching `pick` (already printed or to come). */
  next: <T>(pick: (line: Record<string, unknown>) => boolean) => Promise<T>;
  done: Promise<number | null>;
}

/** Runs `node script ...args`, collecting every JSON line it prints. */
export function runScript(script: string, args: string[]): Run {
  const child = spawn(process.execPath, ["--no-warnings", script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pick: (l: Record<string, unknown>) => boolean; resolve: (v: never) => void }[] = [];
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const line = JSON.parse(buffer.slice(0, i)) as Record<string, unknown>;
      buffer = buffer.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pick(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line as never);
        }
      }
    }
  });
  const done = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const next = <T>(pick: (l: Record<string, unknown>) => boolean) =>
    new Promise<T>((resolve) => {
      const hit = lines.find(pick);
      if (hit) resolve(hit as T);
      else waiters.push({ pick, resolve: resolve as (v: never) => void });
    });
  return { child, lines, next, done };
}
