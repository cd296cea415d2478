/**
 * GET /v1/events read with fetch(), not EventSource: EventSource cannot send an Authorization
 * header, and the token must never go into a URL. The parser is the SSE format of the HTML
 * standard (event/id/data fields, blank line ends a message, `:` comments are keep-alives).
 */
export interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

export class SseParser {
  private buf = '';
  private event = '';
  private id: string | undefined;
  private data: string[] = [];

  /** Feeds a decoded chunk; returns the messages it completed. */
  feed(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    let i: number;
    while ((i = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + (this.buf.startsWith('\r\n', i) ? 2 : 1));
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', id: this.id, data: this.data.join('\n') });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
      else if (field === 'id') this.id = value;
    }
    return out;
  }
}

export interface StreamHandlers {
  onMessage: (m: SseMessage) => void;
  /** The stream ended or failed; `status` is the HTTP status when the request was answered with an error. */
  onClose: (err: unknown, status?: number) => void;
}

/** Opens the stream with the token in the header; returns a function that closes it. */
export function openEvents(token: string, since: number | undefined, h: StreamHandlers): () => void {
  const ctl = new AbortController();
  const url = since === undefined ? '/v1/events' : `/v1/events?since=${since}`;
  void (async () => {
    try {
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: ctl.signal,
        cache: 'no-store',
      });
      if (!res.ok || !res.body) {
        h.onClose(new Error(`events: HTTP ${res.status}`), res.status);
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const p = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const m of p.feed(value)) h.onMessage(m);
      }
      h.onClose(new Error('events: stream ended'));
    } catch (err) {
      if (!ctl.signal.aborted) h.onClose(err);
    }
  })();
  return () => ctl.abort();
}
