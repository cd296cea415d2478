import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of PostgreSQL that can stop answering: in `stall` mode it
 * keeps every connection open (and accepts new ones) but forwards nothing either way, which is
 * what a database looks like that hangs after connecting (a frozen host, a stuck storage layer,
 * a half-dead network path). `forward` passes bytes again (what was held back goes through).
 */
export interface StallProxy {
  port: number;
  /** The database URL `url` rewritten to go through the proxy. */
  via(url: string): string;
  stall(): void;
  forward(): void;
  close(): Promise<void>;
}

export async function startStallProxy(targetHost: string, targetPort: number): Promise<StallProxy> {
  let stalled = false;
  const pairs = new Set<{ client: net.Socket; server: net.Socket }>();
  const proxy = net.createServer((client) => {
    const server = net.connect(targetPort, targetHost);
    const pair = { client, server };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    if (stalled) {
      client.pause(); // accepted, and silent
      server.pause();
    } else {
      client.pipe(server);
      server.pipe(client);
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    stall() {
      stalled = true;
      // unpipe: bytes already read stay buffered here, nothing reaches the other side
      for (const p of pairs) {
        p.client.unpipe(p.server);
        p.server.unpipe(p.client);
        p.client.pause();
        p.server.pause();
      }
    },
    forward() {
      stalled = false;
      for (const p of pairs) {
        p.client.pipe(p.server);
        p.server.pipe(p.client);
        p.client.resume();
        p.server.resume();
      }
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.server.destroy();
      }
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
