import { describe, expect, it } from 'vitest';
import { sh } from '../support/netns.js';

describe('guest', () => {
  it('runs a kernel with geneve', () => {
    expect(sh('uname', ['-r'])).toMatch(/amd64/);
  });
});
