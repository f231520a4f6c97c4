import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What every local stand-in of a vendor's REST API offers beside its own state. */
export interface ListeningStandIn {
  url: string;
  /** While on, every connection is refused and open ones are cut: the system is down. */
  down(on: boolean): void;
  close(): Promise<void>;
}

/**
 * Listens on a loopback port with `handle`, keeping its sockets so that `down` can cut them and
 * `close` does not wait on a request left hanging on purpose (a `hang` fault).
 */
export async function listenStandIn(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<ListeningStandIn> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  server.on('connection', (sock) => {
    if (refusing) {
      sock.destroy();
      return;
    }
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    down(on) {
      refusing = on;
      if (on) for (const sock of sockets) sock.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => r());
      }),
  };
}
