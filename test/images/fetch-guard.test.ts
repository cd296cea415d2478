/**
 * The repository client under attack: real HTTP servers on loopback (127.0.0.1 and
 * 127.0.0.2, both refused unless allow-listed), real createrepo_c repositories, real gpg.
 */
import { createHash } from 'node:crypto';
import { cp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { isImageError } from '../../images/errors.js';
import type { FetchPolicy } from '../../images/http-get.js';
import { publishRepo } from '../../images/publish.js';
import { downloadImage, readRepo, STRICT_POLICY, type RepoSource } from '../../images/repo-client.js';
import { exportPublicKey } from '../../images/sign.js';
import { busyboxTree, haveTools, makeKey, serveDir, serveWith, stopAgents, tmpBase, type Served } from './support.js';

const missing = haveTools();
if (missing) console.warn(`skipping repository fetch tests: ${missing}`);

const policy = (allowCidrs: string[], allowHttp = true, extra: Partial<FetchPolicy> = {}): FetchPolicy => ({
  address: { allowCidrs },
  allowHttp,
  timeoutMs: 5000,
  ...extra,
});
const LOOP = policy(['127.0.0.1/32']);

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; detail?: string }> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!isImageError(e)) throw new Error(`expected an ImageError, got ${String(e)}`);
  return { code: e.code, message: e.message, detail: (e as { detail?: string }).detail };
}

/** A hand-made repository: repomd.xml naming `primary` (served as is) with its sha256. */
function fakeRepo(primary: Buffer, gz: boolean, extra: Record<string, Buffer> = {}) {
  const href = gz ? 'repodata/primary.xml.gz' : 'repodata/primary.xml';
  const sum = createHash('sha256').update(primary).digest('hex');
  const repomd = `<?xml version="1.0" encoding="UTF-8"?>\n<repomd><revision>1</revision><data type="primary"><checksum type="sha256">${sum}</checksum><location href="${href}"/><timestamp>1</timestamp></data></repomd>`;
  const files: Record<string, Buffer> = { '/repodata/repomd.xml': Buffer.from(repomd), [`/${href}`]: primary, ...extra };
  return serveWith('127.0.0.1', (req, res) => {
    const body = files[req.url ?? ''];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
}

describe.skipIf(missing)('repository fetches: addresses, schemes, redirects, caps, XML, signatures', () => {
  let tmp: string;
  let repoDir: string;
  let repo: Served;
  let back: Served;
  const closers: Array<() => Promise<void>> = [];
  const key = { keyId: '', gnupgHome: '' };
  let stranger: { keyId: string; gnupgHome: string };
  let publicKey: string;

  beforeAll(async () => {
    tmp = await tmpBase();
    Object.assign(key, await makeKey(tmp, 'repo@freight.invalid'));
    stranger = await makeKey(tmp, 'stranger@freight.invalid');
    publicKey = await exportPublicKey(key);
    const bb = await buildImage({
      manifest: { name: 'busybox', version: '1', command: ['/bin/sh'] },
      from: await busyboxTree(path.join(tmp, 'bb')),
      outDir: path.join(tmp, 'out'),
    });
    repoDir = path.join(tmp, 'repo');
    await publishRepo(repoDir, [bb.rpm]);
    repo = await serveDir(repoDir);
    back = await serveDir(repoDir, '127.0.0.2'); // "an internal service": loopback, not allow-listed
    closers.push(repo.close, back.close);
  }, 120_000);

  afterAll(async () => {
    for (const c of closers) await c();
    if (tmp) await stopAgents(tmp);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('refuses 127.0.0.1 without the allow-list (no request made) and reads it when the admin allows it', async () => {
    repo.hits.length = 0;
    const r = await refusal(readRepo({ url: repo.url }, { policy: policy([]) }));
    expect(r.code).toBe('repo_refused');
    expect(r.message).toBe(`fetch ${repo.url}: repository unreachable`);
    expect(r.detail).toMatch(/127\.0\.0\.1 \(loopback\) is not allowed/);
    expect(repo.hits).toEqual([]);
    const ok = await readRepo({ url: repo.url }, { policy: LOOP });
    expect(ok.images.map((i) => `${i.name}:${i.version}`)).toEqual(['busybox:1']);
    expect(ok.revision).toBeGreaterThan(1_700_000_000); // createrepo_c's revision: the publish time
  });

  it('refuses plain http unless allowed for the repository', async () => {
    repo.hits.length = 0;
    expect((await refusal(readRepo({ url: repo.url }, { policy: policy(['127.0.0.1/32'], false) }))).code).toBe('repo_refused');
    expect((await refusal(readRepo({ url: repo.url }, {}))).code).toBe('repo_refused'); // the default: https only, global only
    expect(repo.hits).toEqual([]);
    const ok = await readRepo({ url: repo.url, allowHttp: true }, { policy: policy(['127.0.0.1/32'], false) });
    expect(ok.images).toHaveLength(1);
  });

  it('re-checks every redirect: a hop to a non-allowed address is refused before it is fetched', async () => {
    const front = await serveWith('127.0.0.1', (req, res) => res.writeHead(302, { location: `${back.url.slice(0, -1)}${req.url}` }).end());
    closers.push(front.close);
    back.hits.length = 0;
    const r = await refusal(readRepo({ url: front.url }, { policy: LOOP }));
    expect(r.code).toBe('repo_refused');
    // the tenant sees neither the hop nor its status (\b: the front's random port may hold a 30x)
    expect(r.message).not.toMatch(/127\.0\.0\.2|\b30\d\b|redirect/i);
    expect(r.detail).toMatch(/127\.0\.0\.2 \(loopback\)/);
    expect(front.hits).toEqual(['/repodata/repomd.xml']);
    expect(back.hits).toEqual([]);
    // where the admin allows both, redirects are followed
    const ok = await readRepo({ url: front.url }, { policy: policy(['127.0.0.1/32', '127.0.0.2/32']) });
    expect(ok.images).toHaveLength(1);
    expect(back.hits.length).toBeGreaterThan(0);
  });

  it('connects to the address it checked (pinned lookup: one resolution per hop, no rebinding)', async () => {
    const asked: string[] = [];
    const resolve = async (h: string) => {
      asked.push(h);
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const host = `repo.freight.invalid:${new URL(repo.url).port}`; // .invalid never resolves through the system
    const ok = await readRepo({ url: `http://${host}/` }, { policy: policy(['127.0.0.1/32'], true, { resolve }) });
    expect(ok.images).toHaveLength(1);
    expect(asked).toEqual(['repo.freight.invalid', 'repo.freight.invalid']); // repomd.xml, primary
    // one bad address among several is enough to refuse
    const mixed = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    expect((await refusal(readRepo({ url: `http://${host}/` }, { policy: policy([], true, { resolve: mixed }) }))).code).toBe(
      'repo_refused',
    );
  });

  it('tells nothing of an allowed target that fails: no status, no body', async () => {
    const internal = await serveWith('127.0.0.1', (_req, res) => res.writeHead(500).end('internal admin console'));
    closers.push(internal.close);
    const r = await refusal(readRepo({ url: internal.url }, { policy: LOOP }));
    expect(r.code).toBe('repo_unreachable');
    expect(r.message).toBe(`fetch ${internal.url}: repository unreachable`);
    expect(r.detail).toMatch(/HTTP 500/); // for the controller's log only
  });

  it('gives up on a silent server within the request timeout', async () => {
    const silent = await serveWith('127.0.0.1', () => {});
    closers.push(silent.close);
    const t0 = Date.now();
    expect((await refusal(readRepo({ url: silent.url }, { policy: policy(['127.0.0.1/32'], true, { timeoutMs: 300 }) }))).code).toBe(
      'repo_unreachable',
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('cuts a body that trickles past the deadline (the deadline covers the body, not only the headers)', async () => {
    const slow = await serveWith('127.0.0.1', (_req, res) => {
      res.writeHead(200, { 'content-length': 100_000 });
      res.write('<repomd>');
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
    closers.push(slow.close);
    const t0 = Date.now();
    expect((await refusal(readRepo({ url: slow.url }, { policy: policy(['127.0.0.1/32'], true, { timeoutMs: 400 }) }))).code).toBe(
      'repo_unreachable',
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('refuses a gzip bomb (0.5 MB → 512 MB) at the decompressed cap, streamed, without blocking the event loop', async () => {
    const MiB = 1024 * 1024;
    const member = gzipSync(Buffer.from('x'.repeat(MiB - 64) + '<x/>'.padEnd(60, ' ')), { level: 9 });
    const bomb = Buffer.concat([gzipSync('<metadata>'), ...Array.from({ length: 512 }, () => member)]);
    expect(bomb.length).toBeLessThan(0.6 * MiB);
    const srv = await fakeRepo(bomb, true);
    closers.push(srv.close);
    const h = monitorEventLoopDelay({ resolution: 10 });
    const rss0 = process.memoryUsage().rss;
    h.enable();
    const r = await refusal(readRepo({ url: srv.url }, { policy: LOOP }));
    h.disable();
    expect(r.code, r.message).toBe('repo_too_large');
    expect(r.message).toMatch(/decompressed: larger than 134217728 bytes/);
    if (process.env.FREIGHT_PRINT_FIGURES)
      console.log({ bomb: bomb.length, loopMaxMs: h.max / 1e6, rssMiB: (process.memoryUsage().rss - rss0) / MiB });
    expect(h.max / 1e6).toBeLessThan(250); // ms: never one long synchronous step
    expect(process.memoryUsage().rss - rss0).toBeLessThan(400 * MiB);
  }, 30_000);

  it('refuses a metadata file past its compressed cap', async () => {
    const srv = await fakeRepo(Buffer.alloc(3 * 1024 * 1024, 0x20), false);
    closers.push(srv.close);
    expect((await refusal(readRepo({ url: srv.url }, { policy: LOOP, limits: { primaryBytes: 1024 * 1024 } }))).code).toBe(
      'repo_too_large',
    );
  });

  it('refuses 2 MB of hostile XML and bad character references with repo_corrupt, quickly', async () => {
    const hostile = await fakeRepo(Buffer.from('<metadata>' + '<package><name>'.repeat((2 * 1024 * 1024) / 15)), false);
    const charref = await fakeRepo(Buffer.from('<metadata><package><name>&#99999999;</name></package></metadata>'), false);
    closers.push(hostile.close, charref.close);
    const t0 = performance.now();
    const r = await refusal(readRepo({ url: hostile.url }, { policy: LOOP }));
    expect(performance.now() - t0).toBeLessThan(1000); // HTTP included; the parse itself: fetch-unit.test.ts
    expect(r.code).toBe('repo_corrupt');
    expect((await refusal(readRepo({ url: charref.url }, { policy: LOOP }))).code).toBe('repo_corrupt');
  });

  it('caps a package download to the size primary.xml declares', async () => {
    const { images } = await readRepo({ url: repo.url }, { policy: LOOP });
    const dest = path.join(tmp, 'pkg.rpm');
    expect((await refusal(downloadImage({ ...images[0], size: 1000 }, dest, { policy: LOOP }))).code).toBe('repo_too_large');
    await downloadImage(images[0], dest, { policy: LOOP });
  });

  it('refuses metadata older than what was seen (a replayed repomd.xml)', async () => {
    const now = await readRepo({ url: repo.url }, { policy: LOOP });
    const seen = { revision: (now.revision ?? 0) + 1000, timestamp: now.timestamp };
    const r = await refusal(readRepo({ url: repo.url, seen }, { policy: LOOP }));
    expect(r.code).toBe('repo_rollback');
    await readRepo({ url: repo.url, seen: { revision: now.revision, timestamp: now.timestamp } }, { policy: LOOP }); // the same one is fine
  });

  it('checks repomd.xml.asc against the repository key: signed passes, a stranger, tampering or a vanished signature are refused', async () => {
    const signedDir = path.join(tmp, 'signed');
    await cp(repoDir, signedDir, { recursive: true });
    await publishRepo(signedDir, [], key);
    const srv = await serveDir(signedDir);
    closers.push(srv.close);
    const src: RepoSource = { url: srv.url, publicKey };
    const ok = await readRepo(src, { policy: LOOP });
    expect(ok.signed).toBe(true);
    expect(ok.images).toHaveLength(1);
    const asc = path.join(signedDir, 'repodata', 'repomd.xml.asc');
    const repomd = path.join(signedDir, 'repodata', 'repomd.xml');
    // signed by another key
    await publishRepo(signedDir, [], stranger);
    expect((await refusal(readRepo(src, { policy: LOOP }))).code).toBe('repo_bad_signature');
    // good signature, then repomd.xml changed after signing
    await publishRepo(signedDir, [], key);
    const { readFile } = await import('node:fs/promises');
    await writeFile(repomd, (await readFile(repomd, 'utf8')).replace('<revision>', '<revision>9'));
    const t = await refusal(readRepo(src, { policy: LOOP }));
    expect([t.code, t.message]).toEqual(['repo_bad_signature', expect.stringMatching(/BADSIG/)]);
    // garbage where the signature should be
    await publishRepo(signedDir, [], key);
    await writeFile(asc, 'not a signature');
    expect((await refusal(readRepo(src, { policy: LOOP }))).code).toBe('repo_bad_signature');
    // no signature: fine for a repository never seen signed, refused for one that was
    await rm(asc);
    expect((await readRepo(src, { policy: LOOP })).signed).toBe(false);
    expect((await refusal(readRepo({ ...src, seen: { signed: true } }, { policy: LOOP }))).code).toBe('repo_bad_signature');
  }, 60_000);

  it('refuses non-http schemes outright', async () => {
    expect((await refusal(readRepo({ url: 'file:///etc/' }, { policy: STRICT_POLICY }))).code).toBe('repo_refused');
  });
});
