import { type Server, type Socket, connect, createServer } from 'node:net';

export type ProxyMode = 'pass' | 'hang' | 'refuse';

/**
 * A TCP proxy in front of a real PostgreSQL server that can misbehave as targets do in the
 * field: `pass` forwards, `hang` accepts connections and never answers (holding what the client
 * sent), `refuse` stops listening so connections are refused. `release()` forwards the held
 * connections after all, as a stalled target that comes back.
 */
export interface FaultProxy {
  url: string;
  port: number;
  mode: ProxyMode;
  /** Connections being held by `hang`. */
  readonly held: number;
  set(mode: ProxyMode): Promise<void>;
  /** Forwards every held connection upstream, with what it already sent. */
  release(): void;
  close(): Promise<void>;
}

export async function faultProxy(
  upstream: { host: string; port: number },
  database: string,
  mode: ProxyMode = 'pass',
): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const held = new Map<Socket, Buffer[]>();

  const forward = (client: Socket, pending: Buffer[]) => {
    const up = connect(upstream.port, upstream.host);
    sockets.add(up);
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
    up.on('close', () => {
      sockets.delete(up);
      client.destroy();
    });
    client.on('close', () => up.destroy());
    for (const chunk of pending) up.write(chunk);
    client.pipe(up);
    up.pipe(client);
  };

  const onConnection = (client: Socket) => {
    sockets.add(client);
    client.on('close', () => {
      sockets.delete(client);
      held.delete(client);
    });
    client.on('error', () => undefined);
    if (proxy.mode === 'hang') {
      const chunks: Buffer[] = [];
      held.set(client, chunks);
      client.on('data', (d: Buffer) => {
        if (held.has(client)) chunks.push(d);
      });
      return;
    }
    forward(client, []);
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer(onConnection);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  const stop = () => new Promise<void>((resolve) => server.close(() => resolve()));

  const port = await listen(0);
  let listening = true;
  const proxy: FaultProxy = {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    port,
    mode,
    get held() {
      return held.size;
    },
    async set(next) {
      if (next === 'refuse' && listening) {
        listening = false;
        await Promise.all([stop(), ...[...sockets].map((s) => s.destroy())]);
      } else if (next !== 'refuse' && !listening) {
        await listen(port);
        listening = true;
      }
      proxy.mode = next;
    },
    release() {
      for (const [client, chunks] of [...held]) {
        held.delete(client);
        client.removeAllListeners('data');
        forward(client, chunks);
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (listening) await stop();
      listening = false;
    },
  };
  if (mode === 'refuse') {
    proxy.mode = 'pass';
    await proxy.set('refuse');
  }
  return proxy;
}
