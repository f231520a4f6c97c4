import { createServer, type Server, type Socket } from 'node:net';

/** A local TCP target for the connector contract's fault tests; `close` also drops its sockets. */
export interface TestTarget {
  port: number;
  url(scheme: string): string;
  close(): Promise<void>;
}

/**
 * A server that accepts every connection and then behaves as `onConnection` says: by default it
 * never answers, the way a hung host, a stuck load balancer or a half-dead target does.
 */
export async function unresponsiveTarget(
  onConnection: (socket: Socket) => void = () => {},
): Promise<TestTarget> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: (scheme) => `${scheme}://gatehouse@127.0.0.1:${port}/x`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** A port nothing listens on: connections to it are refused. */
export async function refusingPort(): Promise<number> {
  const t = await unresponsiveTarget();
  await t.close();
  return t.port;
}
