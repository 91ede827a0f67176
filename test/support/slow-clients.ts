// Clients that hold a server up, and a watch on the event loop while one works.
import { connect } from "node:net";

/**
 * Sends `chunks` on a raw connection to 127.0.0.1:`port`, then keeps it open
 * (sending `drip` every 50 ms when given: a body that never ends): the status
 * line of the answer, or "no answer" when none came within `waitMs`.
 */
export function statusLine(port: number, chunks: (string | Buffer)[], { drip, waitMs }: { drip?: string; waitMs: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const dripping = drip === undefined ? undefined : setInterval(() => socket.write(drip), 50);
    const done = () => {
      clearInterval(dripping);
      clearTimeout(timer);
      socket.destroy();
      resolve(answer.split("\r\n", 1)[0] || "no answer");
    };
    const timer = setTimeout(done, waitMs);
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      answer += chunk;
      if (answer.includes("\r\n\r\n")) done();
    });
    for (const chunk of chunks) socket.write(chunk);
  });
}

/**
 * Counts turns of the event loop (setImmediate callbacks) and the longest wait
 * of a 1 ms timer until `stop()`: what a long read lets other requests do.
 */
export function watchEventLoop(): { stop(): { turns: number; gap: number } } {
  let turns = 0;
  let watching = true;
  const spin = () => {
    turns++;
    if (watching) setImmediate(spin);
  };
  let last = performance.now();
  let gap = 0;
  const beat = setInterval(() => {
    gap = Math.max(gap, performance.now() - last);
    last = performance.now();
  }, 1);
  setImmediate(spin);
  return {
    stop() {
      watching = false;
      clearInterval(beat);
      gap = Math.max(gap, performance.now() - last);
      return { turns, gap };
    },
  };
}
