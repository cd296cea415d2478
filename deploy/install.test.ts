/**
 * The README's install step (deploy/install.sh, issue 13 finding 8): env files hold the node
 * token, a database password or the admin token; they end up 0600 in a 0700 /etc/freight,
 * also over an older install that left them 0644.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dest = mkdtempSync(path.join(tmpdir(), 'fr-deploy-'));
afterAll(() => rmSync(dest, { recursive: true, force: true }));
const mode = (p: string) => statSync(path.join(dest, p)).mode & 0o7777;
const install = (service: string) =>
  execFileSync('sh', [path.join(import.meta.dirname, 'install.sh'), service, dest], { encoding: 'utf8', env: { ...process.env } });

describe('deploy/install.sh', () => {
  it('installs both env files 0600 in a 0700 /etc/freight, units 0644', () => {
    install('controller');
    install('agent');
    expect(mode('etc/freight').toString(8)).toBe('700');
    expect(mode('etc/freight/agent.env').toString(8)).toBe('600');
    expect(mode('etc/freight/controller.env').toString(8)).toBe('600');
    expect(mode('etc/systemd/system/freight-agent.service').toString(8)).toBe('644');
    expect(readFileSync(path.join(dest, 'etc/freight/agent.env'), 'utf8')).toContain('FREIGHT_NODE_TOKEN=');
  });

  it('keeps an edited env file and tightens a world-readable one left by an older install', () => {
    const env = path.join(dest, 'etc/freight/agent.env');
    writeFileSync(env, 'FREIGHT_NODE_TOKEN=frt_secret\n');
    chmodSync(env, 0o644);
    chmodSync(path.join(dest, 'etc/freight'), 0o755);
    install('agent');
    expect(readFileSync(env, 'utf8')).toBe('FREIGHT_NODE_TOKEN=frt_secret\n');
    expect(mode('etc/freight/agent.env').toString(8)).toBe('600');
    expect(mode('etc/freight').toString(8)).toBe('700');
  });

  it('the units keep what the services write private', () => {
    const unit = readFileSync(path.join(import.meta.dirname, 'systemd/freight-controller.service'), 'utf8');
    expect(unit).toMatch(/^UMask=0077$/m);
    expect(unit).toMatch(/^StateDirectoryMode=0700$/m);
  });
});
