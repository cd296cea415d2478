import { netnsName } from '../names.js';
import type { ContainerSpec } from './spec.js';

/**
 * systemd-nspawn arguments for a container (pure). Why each flag:
 * --register=no --keep-unit: systemd is not PID 1 on every node (no machined, no scopes to create);
 * --private-users=pick: every container gets its own user namespace, uid 0 inside is an unprivileged
 *   65536-uid range on the node that nspawn picks (and locks) so no two running containers share one;
 * --private-users-ownership=auto: idmapped mounts where nspawn can, else (systemd 252 on overlayfs)
 *   a one-time chown of the rootfs into the range (copied up into the container's own upper layer);
 * --private-network --network-interface=eth<n>: nspawn creates the container's netns inside its user
 *   namespace (root inside then holds CAP_NET_ADMIN there, for DHCP clients) and moves the veth peers
 *   the agent prepared in the staging netns into it before the payload runs (runtime/network.ts);
 * --resolv-conf=off --timezone=off --link-journal=no: the image's own files, nothing copied from the host;
 * --console: a plain pipe for single commands, a read-only pty for booted systems (getty wants a tty);
 * `--` before the command: the tenant's command is the container's argv, never nspawn options.
 */
export function nspawnArgs(spec: ContainerSpec, rootfs: string): string[] {
  const args = [
    '--quiet',
    '--register=no',
    '--keep-unit',
    '--private-users=pick',
    '--private-users-ownership=auto',
    '--private-network',
    ...spec.interfaces.map((i) => `--network-interface=eth${i.ifindex}`),
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
  else args.push('--as-pid2', '--', ...spec.command);
  return args;
}

/** The machine name in an nspawn command line: how adoption recognises a container's nspawn. */
export function isNspawnOf(argv: string[], id: string): boolean {
  const end = argv.indexOf('--');
  const own = end < 0 ? argv : argv.slice(0, end); // a tenant's command cannot make a process look like ours
  return own.some((a) => a.endsWith('systemd-nspawn')) && own.includes(`--machine=${netnsName(id)}`);
}
