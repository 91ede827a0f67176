#!/usr/bin/env node
// The `keyward` bin (Node only): see docs/cli.md.
import { main } from "./main.js";

/**
 * Writes to a stream whose reader may leave early (`keyward list … | head -1`):
 * EPIPE ends the output, quietly, not the command, which finishes and exits
 * with its own code (docs/cli.md, "Exit codes"). Any other error is thrown, as before.
 */
function writerTo(stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false;
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE" || (closed && err.code === "ERR_STREAM_DESTROYED")) closed = true;
    else throw err;
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}

// node:sqlite, the default store, is in Node 22.13 and later.
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`keyward: Node 22.13 or later is required (this is ${process.versions.node})\n`);
  process.exitCode = 5;
} else {
  // node:sqlite is flagged experimental on Node 22 and says so on every run;
  // the CLI's users did not choose it. Every other warning is still printed.
  process.removeAllListeners("warning").on("warning", (w) => {
    if (!(w.name === "ExperimentalWarning" && w.message.includes("SQLite"))) process.stderr.write(`${w.name}: ${w.message}\n`);
  });
  process.exitCode = await main(process.argv.slice(2), {
    out: writerTo(process.stdout),
    err: writerTo(process.stderr),
    errIsTTY: process.stderr.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  });
}
