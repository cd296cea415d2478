/**
 * A throw-away PostgreSQL server for a guest suite, from the host's installation (the guest
 * sees the host's root filesystem): initdb into DIR as the `postgres` user (initdb refuses
 * root), listening on a unix socket in DIR only. fsync off: the data dies with the guest.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

export interface GuestPg {
  /** postgresql:// URL through the unix socket in the data directory. */
  url: string;
  stop(): void;
}

function pgBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin/initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`start guest postgresql: no initdb under ${root}`);
  return path.join(root, newest, 'bin');
}

function asPostgres(cmd: string, args: string[]): void {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0)
    throw new Error(`${path.basename(cmd)} ${args[0] ?? ''}: exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout).slice(-800)}`);
}

export function startGuestPg(dir: string): GuestPg {
  const bin = pgBin();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  chownSync(dir, Number(pw.stdout), Number(gid.stdout));
  asPostgres(path.join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-instructions']);
  const opts = `-k ${dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40`;
  asPostgres(path.join(bin, 'pg_ctl'), ['-D', dir, '-o', opts, '-l', path.join(dir, 'server.log'), '-w', '-t', '120', 'start']);
  return {
    url: `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`,
    stop() {
      spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), '-D', dir, '-m', 'immediate', '-w', 'stop'], {
        timeout: 60_000,
      });
    },
  };
}
