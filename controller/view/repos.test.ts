import { describe, expect, it } from 'vitest';
import { applyOps } from '../../protocol/view.js';
import { applyRefresh, type Refresh } from './apply.js';
import { compileView } from './compile.js';
import { heldOf, liveOps, resumeOps } from './diff.js';
import { emptyState, type ContainerRow, type RepoRow } from './state.js';

const KEY = (n: string) => `-----BEGIN PGP PUBLIC KEY BLOCK-----\n${n}\n-----END PGP PUBLIC KEY BLOCK-----\n`;
const repo = (id: string, tenantId: string, name = id): RepoRow => ({
  id,
  tenantId,
  name,
  url: `http://198.18.0.253/${id}/`,
  publicKey: KEY(id),
});
const ct = (id: string, tenant: string, nodeId: string, image: string): ContainerRow => ({
  id,
  tenantId: tenant,
  tenant,
  name: id,
  kind: 'container',
  networkId: null,
  image,
  command: [],
  boot: false,
  restart: 'never',
  nodeId,
  desired: 'running',
  generation: 1,
  memory: 536870912,
  cpuMillis: null,
  pids: 1024,
  publish: [],
});
const pairs = <T extends { id: string }>(rows: T[]): Array<[string, T]> => rows.map((r) => [r.id, r]);

/** red has an RPM container on n1 and a directory-image one on n2; blue an RPM container on n3. */
function cluster() {
  const state = emptyState();
  const r: Refresh = {
    nodes: ['n1', 'n2', 'n3'].map((n, i) => [
      n,
      { id: n, name: n, underlayIp: `198.18.0.${i + 1}`, underlayMtu: 1500, ready: true, physicalMtus: {} },
    ]),
    repos: pairs([repo('r-main', 'tred', 'main'), repo('r-blue', 'tblue', 'main')]),
    containers: pairs([ct('rpm', 'tred', 'n1', 'busybox:1'), ct('dir', 'tred', 'n2', 'busybox'), ct('blue', 'tblue', 'n3', 'hello:2')]),
  };
  applyRefresh(state, r);
  return state;
}

describe('view compiler: image repositories', () => {
  it('gives a pinned (RPM) container its own tenant’s repositories and keys, a directory image none', () => {
    const s = cluster();
    expect(compileView(s, 'n1', 1).containers.rpm.imageSource).toEqual({
      repos: [{ name: 'main', url: 'http://198.18.0.253/r-main/', publicKey: KEY('r-main') }],
    });
    expect(compileView(s, 'n2', 1).containers.dir.imageSource).toBeUndefined();
    expect(JSON.stringify(compileView(s, 'n1', 1))).not.toContain('r-blue');
    expect(JSON.stringify(compileView(s, 'n3', 1))).not.toContain('r-main');
  });

  it('a new repository reaches only nodes running that tenant’s RPM containers, and live deltas equal recompiling', () => {
    const s = cluster();
    const full = Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, compileView(s, n, 1)]));
    const sent = Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, heldOf(full[n])]));
    const fx = applyRefresh(s, { repos: pairs([repo('r-extra', 'tred', 'extra')]) });
    const ops = Object.fromEntries(['n1', 'n2', 'n3'].map((n) => [n, liveOps(s, n, fx, sent[n])]));
    expect(ops.n1.map((o) => `${o.kind}/${o.id}`)).toEqual(['containers/rpm']);
    expect(ops.n2).toEqual([]);
    expect(ops.n3).toEqual([]);
    for (const n of ['n1', 'n2', 'n3']) expect(applyOps(full[n], ops[n], 1)).toEqual(compileView(s, n, 1));
    for (const n of ['n1', 'n2', 'n3']) expect(sent[n]).toEqual(heldOf(compileView(s, n, 1)));
    expect(sent.n1.containers.rpm.imageSource?.repos.map((r) => r.name)).toEqual(['extra', 'main']);
  });

  it('removing a repository withdraws its key from the view; an agent resuming across it catches up', () => {
    const s = cluster();
    const old = compileView(s, 'n1', 1);
    applyRefresh(s, { repos: [['r-main', null]] });
    const cur = compileView(s, 'n1', 2);
    expect(cur.containers.rpm.imageSource).toEqual({ repos: [] });
    const ops = resumeOps(
      s,
      'n1',
      [{ revision: 2, kind: 'image_repositories', objectId: 'r-main', op: 'delete', networkId: null, nodeIds: [] }],
      cur,
    );
    expect(applyOps(old, ops, 2)).toEqual(cur);
    expect(
      resumeOps(
        s,
        'n2',
        [{ revision: 2, kind: 'image_repositories', objectId: 'r-main', op: 'delete', networkId: null, nodeIds: [] }],
        compileView(s, 'n2', 2),
      ),
    ).toEqual([]);
  });
});
