import { netnsName } from '../names.js';
import { netnsPath } from './paths.js';
import type { ContainerSpec } from './spec.js';

/**
 * systemd-nspawn arguments for a container (pure). Why each flag:
 * --register=no --keep-unit: systemd is not PID 1 on every node (no machined, no scopes to create);
 * --network-namespace-path: the runtime prepared the netns (veths, MACs, MTU) before the start;
 * --capability=CAP_NET_ADMIN: nspawn drops it with a foreign netns, and DHCP clients need it;
 * --resolv-conf=off --timezone=off --link-journal=no: the image's own files, nothing copied from the host;
 * --console: a plain pipe for single commands, a read-only pty for booted systems (getty wants a tty).
 */
export function nspawnArgs(spec: ContainerSpec, rootfs: string): string[] {
  const args = [
    '--quiet',
    '--register=no',
    '--keep-unit',
    `--network-namespace-path=${netnsPath(spec.id)}`,
    '--capability=CAP_NET_ADMIN',
    `--machine=${netnsName(spec.id)}`,
    `--hostname=${spec.name}`,
    '--resolv-conf=off',
    '--timezone=off',
    '--link-journal=no',
    `--console=${spec.boot ? 'read-only' : 'pipe'}`,
  ];
  for (const b of spec.binds) args.push(`--bind${b.readOnly ? '-ro' : ''}=${b.host}:${b.container}`);
  args.push('-D', rootfs);
  if (spec.boot) args.push('-b');
  else args.push('--as-pid2', ...spec.command);
  return args;
}

/** The machine name in an nspawn command line: how adoption recognises a container's nspawn. */
export function isNspawnOf(argv: string[], id: string): boolean {
  return argv.some((a) => a.endsWith('systemd-nspawn')) && argv.includes(`--machine=${netnsName(id)}`);
}
