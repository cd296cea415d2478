import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.js';

describe('SseParser', () => {
  it('parses messages split across chunks at any byte, with ids, names, comments and multi-line data', () => {
    const text = 'retry: 2000\n\n: keep-alive\n\nevent: ready\ndata: {"revision":4}\n\nid: 5\nevent: change\ndata: {"a":\ndata: 1}\n\n';
    for (let cut = 0; cut < text.length; cut++) {
      const p = new SseParser();
      const got = [...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut))];
      expect(got).toEqual([
        { event: 'ready', id: undefined, data: '{"revision":4}' },
        { event: 'change', id: '5', data: '{"a":\n1}' },
      ]);
    }
  });

  it('accepts CRLF line ends and defaults the event name to message', () => {
    expect(new SseParser().feed('data: x\r\n\r\n')).toEqual([{ event: 'message', id: undefined, data: 'x' }]);
  });

  it('keeps an unterminated message until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.feed('event: change\ndata: 1\n')).toEqual([]);
    expect(p.feed('\n')).toHaveLength(1);
  });
});
