// A TCP proxy in front of the test server, so a test can cut PostgreSQL off
// (every connection reset, new ones refused) and bring it back.
import { createServer, type Server, type Socket, connect } from "node:net";

export interface Proxy {
  readonly port: number;
  /** Resets every connection and refuses new ones. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  /**
   * The next query whose text holds `pattern` reaches the server, but its
   * reply never reaches the client, whose connection is then reset (the
   * server commits it all the same): a reply lost with its connection.
   */
  loseReplyTo(pattern: string): void;
  /**
   * The next query whose text holds `pattern` reaches the server, but
   * nothing more reaches the client on that connection, which stays open (a
   * frozen server, a path gone silent): the client waits for the reply, and
   * learns nothing of the server closing its end (as the server ends a
   * transaction left idle) either.
   */
  silenceReplyTo(pattern: string): void;
  /** Every reply from now on reaches the client `ms` later (a server farther away). */
  delayReplies(ms: number): void;
  /** Every connection opened from now on hears its first reply `ms` later (a loaded server, slow to start a backend). */
  delayConnections(ms: number): void;
  close(): Promise<void>;
}

export async function startProxy(target: URL): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let lose: string | null = null;
  let silence: string | null = null;
  let delay = 0;
  let connectDelay = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    if (connectDelay > 0) {
      upstream.pause();
      setTimeout(() => upstream.resume(), connectDelay);
    }
    let muted = false;
    let silent = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        // A silent path: the server's end closed, the client hears nothing of it.
        if (s === upstream && silent) return;
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      upstream.write(chunk);
      if (lose !== null && chunk.toString("latin1").includes(lose)) {
        lose = null;
        muted = true;
        // Long enough for the server to commit the statement.
        setTimeout(() => client.resetAndDestroy(), 300);
      }
      if (silence !== null && chunk.toString("latin1").includes(silence)) {
        silence = null;
        muted = true;
        silent = true;
      }
    });
    upstream.on("data", (chunk: Buffer) => {
      if (muted) return;
      if (delay > 0) setTimeout(() => client.write(chunk), delay);
      else client.write(chunk);
    });
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  await listen(0);
  const port = (server.address() as { port: number }).port;
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.resetAndDestroy();
      server.close(() => resolve());
    });
  const loseReplyTo = (pattern: string) => {
    lose = pattern;
  };
  const silenceReplyTo = (pattern: string) => {
    silence = pattern;
  };
  const delayReplies = (ms: number) => {
    delay = ms;
  };
  const delayConnections = (ms: number) => {
    connectDelay = ms;
  };
  return { port, cut: stop, restore: () => listen(port), loseReplyTo, silenceReplyTo, delayReplies, delayConnections, close: stop };
}

/** The URL of the test server, through the proxy. */
export function viaProxy(url: string, proxy: Proxy): string {
  const u = new URL(url);
  u.port = String(proxy.port);
  return u.toString();
}
