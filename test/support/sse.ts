import http from 'node:http';

export interface SseMessage {
  event: string;
  id?: string;
  data: any;
}

/**
 * A Server-Sent Events client for tests: collects every message of one stream and lets the test
 * wait for a condition on them (polling with a deadline, never a fixed sleep).
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  status = 0;
  closed = false;
  private req?: http.ClientRequest;
  private buf = '';

  static open(url: string, token: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = new SseClient();
    return new Promise((resolve, reject) => {
      c.req = http.get(url, { headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
        c.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => c.feed(chunk));
        res.on('close', () => (c.closed = true));
        resolve(c);
      });
      c.req.on('error', (err) => (c.status ? (c.closed = true) : reject(err)));
    });
  }

  private feed(chunk: string): void {
    this.buf += chunk;
    let i;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const m: Partial<SseMessage> & { lines: string[] } = { lines: [] };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const [k, ...rest] = line.split(':');
        const v = rest.join(':').replace(/^ /, '');
        if (k === 'event') m.event = v;
        else if (k === 'id') m.id = v;
        else if (k === 'data') m.lines.push(v);
      }
      if (m.lines.length === 0) continue;
      this.messages.push({ event: m.event ?? 'message', id: m.id, data: JSON.parse(m.lines.join('\n')) });
    }
  }

  /** The change events (event: change) received so far. */
  changes(): any[] {
    return this.messages.filter((m) => m.event === 'change').map((m) => m.data);
  }

  async until<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`sse: timed out waiting for ${what}; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): void {
    this.req?.destroy();
    this.closed = true;
  }
}
