import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { BACKENDS } from '../../test/support/backends.js';
import { buildApp } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, type Db } from '../store/db.js';
import { compileView } from '../view/compile.js';
import { resumeOps } from '../view/diff.js';
import { loadState, readChanges } from '../view/load.js';
import { injector } from '../../test/support/inject.js';

const ADMIN = 'admin-secret-for-security-group-tests';
const log = pino({ level: 'silent' });

describe.each(BACKENDS)('security groups API on $name', (backend) => {
  let db: Db;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  const { call, ok } = injector(() => app, ADMIN);
  const G = '/v1/tenants/acme/security-groups';
  let acme = '';
  let other = '';

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await migrate(db);
    await migrate(db); // idempotent: a second run changes nothing and makes no second default group
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log, push: false, auditOptions: { authFailureEveryMs: 0 } });
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('n1', '198.18.0.1', true)");
    for (const t of ['acme', 'other']) await ok('POST', '/v1/tenants', { name: t });
    acme = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' })).token;
    other = (await ok('POST', '/v1/tokens', { kind: 'tenant', tenant: 'other' })).token;
    await ok('POST', '/v1/tenants/acme/networks', { name: 'web', cidr: '10.1.0.0/24' }, acme);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
    await drop?.();
  });

  it('gives every tenant a default group: all egress, ingress from its own members; it cannot be deleted', async () => {
    const d = await ok('GET', `${G}/default`, undefined, acme);
    expect(d.rules.map((r: Record<string, unknown>) => [r.direction, r.proto, r.remoteCidr, r.remoteGroup])).toEqual([
      ['egress', 'any', null, null],
      ['ingress', 'any', null, 'default'],
    ]);
    const del = await call('DELETE', `${G}/default`, undefined, acme);
    expect([del.status, del.json.code]).toEqual([409, 'in_use']);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM security_groups WHERE name = 'default'");
    expect(rows[0]).toEqual({ n: 2 });
  });

  it('creates groups and rules, validates them with stable codes and paths, and deletes them', async () => {
    const web = await call('POST', G, { name: 'web', description: 'web servers' }, acme);
    expect([web.status, web.json]).toMatchObject([201, { tenant: 'acme', name: 'web', rules: [], members: [] }]);
    expect((await call('POST', G, { name: 'web' }, acme)).json.code).toBe('conflict');
    await ok('POST', G, { name: 'lb' }, acme);
    const r = await call(
      'POST',
      `${G}/web/rules`,
      { direction: 'ingress', proto: 'tcp', portMin: 80, portMax: 90, remoteGroup: 'lb' },
      acme,
    );
    expect([r.status, r.json]).toMatchObject([201, { direction: 'ingress', proto: 'tcp', portMin: 80, portMax: 90, remoteGroup: 'lb' }]);
    const one = await ok(
      'POST',
      `${G}/web/rules`,
      { direction: 'ingress', proto: 'tcp', portMin: 22, remoteCidr: '198.51.100.0/24' },
      acme,
    );
    expect([one.portMin, one.portMax, one.remoteCidr]).toEqual([22, 22, '198.51.100.0/24']);
    // a port set: sorted, overlapping and adjacent ranges merged, shown exactly; its span as portMin/portMax; the same set twice is a conflict
    const set = await ok(
      'POST',
      `${G}/web/rules`,
      { direction: 'ingress', proto: 'tcp', ports: ['8000-8100', 443, 80, 81, '8050-8200'] },
      acme,
    );
    expect([set.ports, set.portMin, set.portMax]).toEqual([['80-81', 443, '8000-8200'], 80, 8200]);
    const same = await call('POST', `${G}/web/rules`, { direction: 'ingress', proto: 'tcp', ports: ['80-81', 443, '8000-8200'] }, acme);
    expect([same.status, same.json.code]).toEqual([409, 'conflict']);
    // one range given either way is one rule: the set {22} is the rule above
    const again = await call(
      'POST',
      `${G}/web/rules`,
      { direction: 'ingress', proto: 'tcp', ports: [22], remoteCidr: '198.51.100.0/24' },
      acme,
    );
    expect([again.status, again.json.code]).toEqual([409, 'conflict']);
    expect(one.ports).toEqual([22]);
    await ok('POST', `${G}/web/rules`, { direction: 'ingress', proto: 'icmp' }, acme);
    const dup = await call('POST', `${G}/web/rules`, { direction: 'ingress', proto: 'icmp' }, acme);
    expect([dup.status, dup.json.code]).toEqual([409, 'conflict']);
    const bad = [
      [{ direction: 'ingress', proto: 'icmp', portMin: 1 }, 'portMin'],
      [{ direction: 'ingress', proto: 'tcp', portMin: 90, portMax: 80 }, 'portMax'],
      [{ direction: 'ingress', remoteCidr: '10.0.0.1/24' }, 'remoteCidr'],
      [{ direction: 'ingress', remoteCidr: '10.0.0.0/24', remoteGroup: 'lb' }, 'remoteGroup'],
      [{ direction: 'sideways' }, 'direction'],
      [{ direction: 'ingress', proto: 'sctp' }, 'proto'],
      [{ direction: 'ingress', proto: 'udp', ports: [] }, 'ports'],
      [{ direction: 'ingress', proto: 'udp', ports: ['90-80'] }, 'ports.0'],
      [{ direction: 'ingress', proto: 'udp', ports: [53, '70000'] }, 'ports.1'],
      [{ direction: 'ingress', proto: 'udp', ports: ['53; flush ruleset'] }, 'ports.0'],
      [{ direction: 'ingress', proto: 'udp', ports: Array.from({ length: 65 }, (_, i) => i + 1) }, 'ports'],
      [{ direction: 'ingress', proto: 'icmp', ports: [1] }, 'ports'],
      [{ direction: 'ingress', proto: 'tcp', ports: [1], portMin: 1 }, 'ports'],
      [{ direction: 'ingress', remoteGroup: '--flush' }, 'remoteGroup'],
    ] as const;
    for (const [body, path] of bad) {
      const x = await call('POST', `${G}/web/rules`, body, acme);
      expect([x.status, x.json.code, x.json.path], JSON.stringify(body)).toEqual([400, 'invalid', path]);
    }
    const missing = await call('POST', `${G}/web/rules`, { direction: 'ingress', remoteGroup: 'nope' }, acme);
    expect([missing.status, missing.json.code, missing.json.path]).toEqual([404, 'security_group_not_found', 'remoteGroup']);
    const shown = await ok('GET', `${G}/web`, undefined, acme);
    expect(shown.rules).toHaveLength(4);
    expect((await ok('GET', G, undefined, acme)).items.map((g: { name: string }) => g.name)).toEqual(['default', 'lb', 'web']);
    // lb is named by a rule of web: in use until that rule goes
    expect((await call('DELETE', `${G}/lb`, undefined, acme)).json.code).toBe('in_use');
    expect((await call('DELETE', `${G}/web/rules/${r.json.id}`, undefined, acme)).status).toBe(204);
    expect((await call('DELETE', `${G}/web/rules/${r.json.id}`, undefined, acme)).json.code).toBe('security_rule_not_found');
    expect((await call('DELETE', `${G}/web/rules/not-a-uuid`, undefined, acme)).json.code).toBe('security_rule_not_found');
    expect((await call('DELETE', `${G}/lb`, undefined, acme)).status).toBe(204);
    expect((await call('GET', `${G}/lb`, undefined, acme)).json.code).toBe('security_group_not_found');
  });

  it('keeps tenants apart: no access to another tenant, a remote group of another tenant is refused', async () => {
    expect((await call('GET', G, undefined, other)).status).toBe(404);
    expect((await call('POST', `${G}/web/rules`, { direction: 'ingress' }, other)).status).toBe(404);
    await ok('POST', '/v1/tenants/other/security-groups', { name: 'web' }, other);
    const cross = await call(
      'POST',
      '/v1/tenants/other/security-groups/web/rules',
      { direction: 'ingress', remoteGroup: 'acme/web' },
      other,
    );
    expect([cross.status, cross.json.code, cross.json.path]).toEqual([403, 'cross_tenant_group', 'remoteGroup']);
    // the same refusal for an admin, and from the database itself where the API would not ask
    const admin = await call('POST', '/v1/tenants/other/security-groups/web/rules', { direction: 'ingress', remoteGroup: 'acme/web' });
    expect(admin.json.code).toBe('cross_tenant_group');
    const ids = await db.query<{ id: string; tenant_id: string; name: string }>(
      'SELECT g.id, g.tenant_id, t.name FROM security_groups g JOIN tenants t ON t.id = g.tenant_id WHERE g.name = $1 ORDER BY t.name',
      ['web'],
    );
    const [a, o] = ids.rows;
    await expect(
      db.query(
        "INSERT INTO security_group_rules (group_id, tenant_id, direction, proto, remote_group_id) VALUES ($1, $2, 'ingress', 'any', $3)",
        [o.id, o.tenant_id, a.id],
      ),
    ).rejects.toThrow(/another tenant/);
    // a writer of before port sets (port_min/port_max only) writes that range as the set
    const legacy = await db.query<{ id: string }>(
      "INSERT INTO security_group_rules (group_id, tenant_id, direction, proto, port_min, port_max) VALUES ($1, $2, 'egress', 'udp', 7000, 7010) RETURNING id",
      [o.id, o.tenant_id],
    );
    const shown = await ok('GET', '/v1/tenants/other/security-groups/web');
    expect(shown.rules.find((r: { id: string }) => r.id === legacy.rows[0].id)).toMatchObject({
      portMin: 7000,
      portMax: 7010,
      ports: ['7000-7010'],
    });
    // and a port set that disagrees with its bounds is refused by the database
    await expect(
      db.query(
        "INSERT INTO security_group_rules (group_id, tenant_id, direction, proto, port_min, port_max, ports) VALUES ($1, $2, 'egress', 'udp', 1, 2, '{[5,6]}')",
        [o.id, o.tenant_id],
      ),
    ).rejects.toThrow(/security_group_rules_port_set/);
  });

  it('puts containers in groups at run and changes them by PATCH, writing nothing on a bad name', async () => {
    const c = await ok(
      'POST',
      '/v1/tenants/acme/containers',
      { name: 'a', image: 'busybox', networks: ['web'], securityGroups: ['web'] },
      acme,
    );
    expect(c.securityGroups).toEqual(['web']);
    const plain = await ok('POST', '/v1/tenants/acme/containers', { name: 'b', image: 'busybox', networks: ['web'] }, acme);
    expect(plain.securityGroups).toEqual(['default']);
    expect((await ok('GET', '/v1/tenants/acme/containers/b', undefined, acme)).securityGroups).toEqual(['default']);
    const unknown = await call(
      'POST',
      '/v1/tenants/acme/containers',
      { name: 'c', image: 'busybox', networks: ['web'], securityGroups: ['nope'] },
      acme,
    );
    expect([unknown.status, unknown.json.code, unknown.json.path]).toEqual([404, 'security_group_not_found', 'securityGroups.0']);
    expect((await call('GET', '/v1/tenants/acme/containers/c', undefined, acme)).status).toBe(404);
    // another tenant's group name resolves in the caller's tenant only
    const foreign = await call(
      'POST',
      '/v1/tenants/other/containers',
      { name: 'x', image: 'busybox', networks: ['web'], securityGroups: ['lb'] },
      other,
    );
    expect(foreign.status).toBe(404);

    const { rows: before } = await db.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log');
    const p = await ok('PATCH', '/v1/tenants/acme/containers/b', { securityGroups: ['web', 'default'] }, acme);
    expect(p.securityGroups).toEqual(['default', 'web']);
    // logged: b's own item (its rules on its node) and its endpoint (its address in the members' sets)
    const { rows: log1 } = await db.query<{ kind: string }>('SELECT DISTINCT kind FROM change_log WHERE revision > $1 ORDER BY kind', [
      before[0].r,
    ]);
    expect(log1.map((r) => r.kind)).toEqual(['containers', 'endpoints']);
    const again = await db.query<{ r: string }>('SELECT max(revision)::text AS r FROM change_log');
    await ok('PATCH', '/v1/tenants/acme/containers/b', { securityGroups: ['default', 'web'] }, acme); // same set: nothing logged
    expect((await db.query('SELECT 1 FROM change_log WHERE revision > $1', [again.rows[0].r])).rows).toEqual([]);
    const bad = await call('PATCH', '/v1/tenants/acme/containers/b', { securityGroups: ['web', 'nope'] }, acme);
    expect([bad.status, bad.json.code]).toEqual([404, 'security_group_not_found']);
    expect((await ok('GET', '/v1/tenants/acme/containers/b', undefined, acme)).securityGroups).toEqual(['default', 'web']);
    expect((await ok('GET', `${G}/web`, undefined, acme)).members).toEqual(['a', 'b']);
    expect((await call('DELETE', `${G}/web`, undefined, acme)).json.code).toBe('in_use');
    expect((await ok('PATCH', '/v1/tenants/acme/containers/b', { securityGroups: null }, acme)).securityGroups).toEqual(['default']);
    expect((await ok('GET', `${G}/default`, undefined, acme)).members).toEqual(['b']);
  });

  it("compiles groups into views: rules with the member's container, membership on its endpoint; a change is that endpoint alone", async () => {
    const { state, revision } = await loadState(db, null);
    const v = compileView(state, 'n1', revision);
    const a = Object.values(v.containers).find((x) => x.name === 'a')!;
    expect(a.securityGroups!.map((g) => [g.name, g.rules.length])).toEqual([['web', 3]]);
    // a port set reaches the node as its ranges; portMin/portMax are the first (a reader unaware of ports allows less)
    const rules = a.securityGroups![0].rules;
    expect(rules.find((r) => r.ports)).toMatchObject({
      portMin: 80,
      portMax: 81,
      ports: [
        [80, 81],
        [443, 443],
        [8000, 8200],
      ],
    });
    expect(rules.find((r) => r.portMin === 22)).not.toHaveProperty('ports');
    const webId = a.securityGroups![0].id;
    const epA = Object.values(v.endpoints).find((e) => e.name === 'a')!;
    expect(epA.groups).toEqual([webId]);
    const infra = Object.values(v.endpoints).find((e) => e.kind === 'infra')!;
    expect(infra.groups).toBeUndefined();
    expect(Object.values(v.containers).find((x) => x.kind === 'infra')?.securityGroups).toBeUndefined();

    await ok('PATCH', '/v1/tenants/acme/containers/a', { securityGroups: ['default'] }, acme);
    const after = await loadState(db, null);
    const node = after.state.nodeIdByName.get('n1')!;
    const ops = resumeOps(after.state, node, await readChanges(db, revision), compileView(after.state, 'n1', after.revision));
    const defaultId = (
      await db.query<{ id: string }>(
        "SELECT g.id FROM security_groups g JOIN tenants t ON t.id = g.tenant_id WHERE t.name = 'acme' AND g.name = 'default'",
      )
    ).rows[0].id;
    // the other nodes of the network get the address alone: one endpoint item, a few hundred bytes
    const eps = ops.filter((o) => o.kind === 'endpoints');
    expect(eps).toEqual([{ kind: 'endpoints', id: epA.id, value: { ...epA, groups: [defaultId] } }]);
    expect(JSON.stringify(eps[0]).length).toBeLessThan(400);
    // its own node gets its container item with the new group's rules
    expect(ops.filter((o) => o.kind === 'containers').map((o) => o.value?.securityGroups?.map((g) => g.name))).toEqual([['default']]);
    await ok('PATCH', '/v1/tenants/acme/containers/a', { securityGroups: ['web'] }, acme);
  });

  it('audits security group calls and documents them in OpenAPI', async () => {
    await (app as unknown as { audit: { flush(): Promise<void> } }).audit.flush();
    const { rows } = await db.query<{ action: string }>("SELECT action FROM audit_log WHERE action LIKE '%security%' ORDER BY id");
    expect(rows.map((r) => r.action)).toEqual(
      expect.arrayContaining(['create security group', 'add security rule', 'delete security rule', 'delete security group']),
    );
    const doc = (await call('GET', '/openapi.json')).json;
    expect(Object.keys(doc.paths['/v1/tenants/{tenant}/security-groups/{group}'])).toEqual(expect.arrayContaining(['get', 'delete']));
    expect(doc.paths['/v1/tenants/{tenant}/security-groups/{group}/rules'].post.requestBody).toBeTruthy();
    expect(doc.components.responses ?? doc.paths).toBeTruthy();
  });
});
