import { describe, expect, it } from 'vitest';
import { limitFiles } from './cgroups.js';

describe('cgroup limit files', () => {
  const l = { memory: 64 * 1024 * 1024, cpus: 0.5, pids: 100 };
  it('v2: memory.max, no swap, pids.max, cpu.max as quota and period', () => {
    expect(limitFiles('v2', l).map((f) => `${f.file}=${f.value}`)).toEqual([
      'memory.max=67108864',
      'memory.swap.max=0',
      'pids.max=100',
      'cpu.max=50000 100000',
    ]);
    expect(limitFiles('v2', { ...l, cpus: null }).find((f) => f.file === 'cpu.max')?.value).toBe('max 100000');
  });
  it('v1: memory (and memsw) limit, pids.max, CFS quota per period', () => {
    expect(limitFiles('v1', l).map((f) => `${f.controller}/${f.file}=${f.value}`)).toEqual([
      'memory/memory.limit_in_bytes=67108864',
      'memory/memory.memsw.limit_in_bytes=67108864',
      'pids/pids.max=100',
      'cpu/cpu.cfs_period_us=100000',
      'cpu/cpu.cfs_quota_us=50000',
    ]);
    expect(limitFiles('v1', { ...l, cpus: null }).at(-1)?.value).toBe('-1');
  });
});
