import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportPublicKey } from '../../images/sign.js';
import { haveTools, makeKey, stopAgents } from '../../test/images/support.js';
import { RuntimeError } from './errors.js';
import { rpmImageLayers } from './rpm-layers.js';

const missing = haveTools();
if (missing) console.warn(`skipping RPM layer tests: ${missing}`);

describe.skipIf(missing)('RPM image layers: how failures reach the container status', () => {
  let tmp: string;
  let publicKey: string;
  const log = pino({ level: 'silent' });
  const layers = (image: string, repos: Array<{ url: string; publicKey: string }>) =>
    rpmImageLayers({ stateDir: path.join(tmp, 'state'), tenant: 'acme', image, repos, what: 'web', log });
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'freight-rpm-layers-'));
    publicKey = await exportPublicKey(await makeKey(tmp, 'layers@freight.invalid'));
  });
  afterAll(async () => {
    await stopAgents(tmp);
    await rm(tmp, { recursive: true, force: true });
  });

  it('an unreachable repository is transient: the container waits (pending) and is retried', async () => {
    const err = await layers('busybox:1', [{ url: 'http://127.0.0.1:9/', publicKey }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err).toMatchObject({ code: 'image_pull_failed', transient: true });
    expect((err as Error).message).toMatch(/^start container web: image busybox:1 not available \(repo_unreachable\)/);
  });

  it('no repository offering the image is a failure with the reason, not a retry', async () => {
    const err = await layers('busybox:1', []).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'image_pull_failed', transient: false });
    expect((err as Error).message).toMatch(/not available \(not_found\)/);
  });
});
