import { describe, expect, it } from 'vitest';
import { parsePorts } from './security-groups.js';

describe('sg rule add --port', () => {
  it('reads one port, a range, or a comma-separated set; anything else is a usage error naming the value', () => {
    expect(parsePorts('80')).toEqual({ portMin: 80, portMax: 80 });
    expect(parsePorts('8000-8100')).toEqual({ portMin: 8000, portMax: 8100 });
    expect(parsePorts('80,443,8000-8100')).toEqual({ ports: [80, 443, '8000-8100'] });
    for (const bad of ['', '80,', 'http', '80;flush', '1-2-3', '-1'])
      expect(() => parsePorts(bad), bad).toThrow(
        expect.objectContaining({ code: 'usage', message: expect.stringContaining(`--port ${bad}:`) }),
      );
  });
});
