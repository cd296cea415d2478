import { describe, expect, it } from 'vitest';
import { classifyExit } from './logs.js';
import { isNspawnOf, nspawnArgs } from './nspawn.js';
import { hostVethName, netnsName } from '../names.js';
import { restartDelay } from './backoff.js';
import type { ContainerSpec } from './spec.js';
import { DEFAULT_LIMITS } from '../../protocol/view.js';

const spec: ContainerSpec = {
  id: '1a2b3c4d-5e6f-0000-0000-000000000000',
  name: 'web',
  tenant: 't',
  kind: 'container',
  image: 'busybox',
  command: ['sh', '-c', 'x'],
  boot: false,
  restart: 'never',
  desired: 'running',
  generation: 1,
  interfaces: [],
  binds: [{ host: '/a', container: '/b', readOnly: true }],
  limits: DEFAULT_LIMITS,
};

describe('nspawn arguments', () => {
  it('single command: as pid 2, own user namespace and netns with the prepared interfaces, no registration, binds', () => {
    const withIf = {
      ...spec,
      interfaces: [0, 2].map((ifindex) => ({
        ifindex,
        network: 'n',
        hostName: 'h',
        bridge: 'b',
        mac: '02:00:00:00:00:01',
        mtu: 1450,
        ip: '10.0.0.2',
        prefix: 24,
        gateway: null,
        static: false,
        dns: null,
        search: null,
        nodeDhcp: false,
      })),
    };
    const a = nspawnArgs(withIf, '/r');
    expect(a).toEqual(
      expect.arrayContaining([
        '--register=no',
        '--keep-unit',
        '--private-users=pick',
        '--private-users-ownership=auto',
        '--private-network',
        '--network-interface=eth0',
        '--network-interface=eth2',
        '--machine=frc-1a2b3c4d',
        '--bind-ro=/a:/b',
        '--console=pipe',
      ]),
    );
    expect(a.some((x) => x.startsWith('--network-namespace-path'))).toBe(false);
    expect(a.slice(-7)).toEqual(['-D', '/r', '--as-pid2', '--', 'sh', '-c', 'x']);
    expect(isNspawnOf(['systemd-nspawn', ...a], spec.id)).toBe(true);
    expect(isNspawnOf(['systemd-nspawn', ...a], 'ffffffff-0000')).toBe(false);
  });
  it("a command that looks like nspawn options stays after `--`, and cannot make a process look like a container's nspawn", () => {
    const a = nspawnArgs({ ...spec, command: ['--bind=/:/host', '--capability=all', '--machine=frc-ffffffff'] }, '/r');
    expect(a.slice(a.indexOf('--'))).toEqual(['--', '--bind=/:/host', '--capability=all', '--machine=frc-ffffffff']);
    expect(a.indexOf('--bind=/:/host')).toBeGreaterThan(a.indexOf('--'));
    expect(isNspawnOf(['systemd-nspawn', ...a], 'ffffffff-0000')).toBe(false);
  });
  it('boot: -b and a read-only console, no command', () => {
    const a = nspawnArgs({ ...spec, boot: true }, '/r');
    expect(a.slice(-3)).toEqual(['-D', '/r', '-b']);
    expect(a).toContain('--console=read-only');
  });
});

describe('names', () => {
  it('fit 15 characters', () => {
    expect(netnsName(spec.id)).toBe('frc-1a2b3c4d');
    expect(hostVethName(spec.id, 0)).toBe('frh-1a2b3c4d0');
    expect(hostVethName(spec.id, 999).length).toBe(15);
    expect(() => hostVethName(spec.id, 1000)).toThrow();
  });
});

describe('classifyExit', () => {
  it("tells nspawn failures from the command's own exit", () => {
    expect(classifyExit(0, '')).toEqual({ kind: 'exited', code: 0 });
    expect(classifyExit(3, 'some output\n')).toEqual({ kind: 'exited', code: 3 });
    expect(
      classifyExit(
        1,
        'Attempted to remove disk file system under "/run/x", and we can\'t allow that.\nexecv(/bin/nope) failed: No such file or directory\n',
      ),
    ).toEqual({ kind: 'failed', code: 1, reason: 'systemd-nspawn: execv(/bin/nope) failed: No such file or directory' });
    expect(classifyExit(1, 'Failed to resolve path /x: No such file\n').kind).toBe('failed');
    expect(classifyExit(null, '').kind).toBe('failed');
    expect(classifyExit(127, 'freight-wrap: 3: systemd-nspawn: not found\n')).toEqual({
      kind: 'failed',
      code: 127,
      reason: 'freight-wrap: 3: systemd-nspawn: not found',
    });
  });
});

describe('restartDelay', () => {
  it('doubles up to the cap', () => {
    const cfg = { baseMs: 500, capMs: 4000, stableMs: 0 };
    expect([0, 1, 2, 3, 4, 50].map((n) => restartDelay(n, cfg))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });
});
