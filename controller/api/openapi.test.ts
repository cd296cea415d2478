/**
 * /openapi.json: valid against the OpenAPI 3.1 schema (a maintained validator), and true to the
 * API: every route's real answers (success and error) validate against the schema its operation
 * documents, with a documented status (issue 19). Routes whose success needs a connected agent
 * are exercised for their documented error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { buildApp, ROUTES } from '../app.js';
import { ensureAdminToken } from '../auth.js';
import { migrate, openDb, type Db } from '../store/db.js';

const ADMIN = 'openapi-admin-token';
const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBGV...\n-----END PGP PUBLIC KEY BLOCK-----\n';

type Doc = {
  paths: Record<string, Record<string, { tags?: string[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
  tags: Array<{ name: string }>;
};

/** Needs a connected agent (logs, packages) or a fetched repository (upgrade) to succeed, or streams (events). */
const NO_SUCCESS_HERE = new Set([
  'GET /v1/tenants/:tenant/containers/:name/logs',
  'GET /v1/tenants/:tenant/containers/:name/packages',
  'GET /v1/tenants/:tenant/containers/:name/outdated',
  'POST /v1/tenants/:tenant/containers/:name/upgrade',
  'GET /v1/events',
]);

describe('OpenAPI document', () => {
  let db: Db;
  let app: FastifyInstance;
  let doc: Doc;
  const seen = new Map<string, number[]>();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);

  /** The route a concrete URL is, by its template. */
  const routeOf = (method: string, url: string) =>
    ROUTES.find((r) => r.method === method && new RegExp(`^${r.url.replace(/:[A-Za-z]+/g, '[^/]+')}$`).test(url.split('?')[0]));

  /** One real request, its answer checked against the document; returns the body. */
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<Record<string, any>> => {
    const res = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    const route = routeOf(method, url);
    expect(route, `${method} ${url}: no route`).toBeDefined();
    const key = `${route!.method} ${route!.url}`;
    seen.set(key, [...(seen.get(key) ?? []), res.statusCode]);
    const op = doc.paths[route!.url.replace(/:([A-Za-z]+)/g, '{$1}')][method.toLowerCase()];
    const documented = op.responses[String(res.statusCode)];
    expect(
      documented,
      `${key} answered ${res.statusCode} (${res.body.slice(0, 200)}), documented: ${Object.keys(op.responses).join(', ')}`,
    ).toBeDefined();
    if (res.statusCode === 204) {
      expect(res.body).toBe('');
      return {};
    }
    const schema = documented.content?.['application/json']?.schema;
    expect(schema, `${key} ${res.statusCode}: no JSON schema`).toBeDefined();
    const json: Record<string, any> = res.json();
    const validate = ajv.compile({ ...(schema as object), $defs: undefined, components: doc.components });
    if (!validate(json)) throw new Error(`${key} ${res.statusCode}: ${ajv.errorsText(validate.errors)}\n${res.body.slice(0, 600)}`);
    return json;
  };

  beforeAll(async () => {
    db = await openDb({});
    await migrate(db);
    await ensureAdminToken(db, ADMIN);
    app = await buildApp({ db, log: pino({ level: 'silent' }), push: false, events: false });
    doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    await db.query("INSERT INTO nodes (name, underlay_ip, ready) VALUES ('node-a', '198.18.0.1', true)");
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it('is a valid OpenAPI 3.1 document, with tags, servers, and only the errors each operation can answer', async () => {
    const result = await new Validator().validate(doc);
    expect(result).toEqual({ valid: true });
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(ops.every((o) => o.tags?.length === 1 && doc.tags.some((t) => t.name === o.tags![0]))).toBe(true);
    expect((doc as unknown as { servers: unknown[] }).servers).toHaveLength(1);
    // DELETEs answering 204 say so; no operation lists every error status
    const del = doc.paths['/v1/tenants/{tenant}/networks/{network}'].delete.responses;
    expect(Object.keys(del)).toEqual(['204', '401', '403', '404', '409', '429', '500', '503']);
    expect(Object.keys(doc.paths['/v1/status'].get.responses)).toEqual(['200', '401', '403', '429', '500', '503']);
    // every operation with a body documents its success schema
    for (const r of ROUTES) {
      const op = doc.paths[r.url.replace(/:([A-Za-z]+)/g, '{$1}')][r.method.toLowerCase()];
      const ok = Object.entries(op.responses).filter(([s]) => s.startsWith('2'));
      expect(ok, `${r.method} ${r.url}`).toHaveLength(1);
      if (ok[0][0] !== '204') expect(Object.values(ok[0][1].content ?? {})[0]?.schema, `${r.method} ${r.url}`).toBeDefined();
    }
  });

  it("every route's real answers validate against the schema its operation documents", async () => {
    await call('GET', '/v1/tenants/acme'); // 404 tenant_not_found, documented
    await call('POST', '/v1/tenants', { name: 'acme', labels: { team: 'a' } });
    await call('POST', '/v1/tenants', { name: 'gone' });
    await call('GET', '/v1/tenants?label=team=a');
    await call('GET', '/v1/tenants?typo=1'); // 400 unknown_parameter
    await call('GET', '/v1/tenants/acme');
    await call('PATCH', '/v1/tenants/acme', { description: 'the acme tenant' });
    await call('POST', '/v1/tenants/acme/networks', { name: 'blue', cidr: '10.0.0.0/24', labels: { tier: 'front' } });
    await call('POST', '/v1/tenants/acme/networks', { name: 'red', cidr: '10.0.0.0/25' }); // 409 overlap
    await call('POST', '/v1/tenants/acme/networks', { name: 'sec', type: 'ipsec', cidr: '10.5.0.0/24' });
    await call('GET', '/v1/tenants/acme/networks?type=vxlan');
    await call('GET', '/v1/tenants/acme/networks/blue');
    await call('GET', '/v1/tenants/acme/networks/nosuch'); // 404
    await call('PATCH', '/v1/tenants/acme/networks/blue', { mtu: 1400, dhcpOptions: { ntp: ['10.0.0.5'] } });
    await call('PATCH', '/v1/tenants/acme/networks/blue', { cidr: '10.9.0.0/24' }); // 409 immutable_field
    await call('POST', '/v1/tenants/acme/networks/sec/rotate-keys');
    await call('POST', '/v1/tenants/acme/routers', { name: 'r1' });
    await call('GET', '/v1/tenants/acme/routers');
    await call('GET', '/v1/tenants/acme/routers/r1');
    await call('PATCH', '/v1/tenants/acme/routers/r1', { external: true });
    await call('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'blue' });
    await call('POST', '/v1/tenants/acme/routers/r1/detach', { network: 'blue' });
    await call('POST', '/v1/tenants/acme/security-groups', { name: 'web' });
    await call('GET', '/v1/tenants/acme/security-groups');
    const rule = await call('POST', '/v1/tenants/acme/security-groups/web/rules', { direction: 'ingress', proto: 'tcp', portMin: 80 });
    await call('GET', '/v1/tenants/acme/security-groups/web');
    await call('GET', '/v1/tenants/acme/security-groups/web/stats');
    await call('DELETE', `/v1/tenants/acme/security-groups/web/rules/${rule.id}`);
    await call('POST', '/v1/tenants/acme/containers', { name: 'a', image: 'busybox', networks: ['blue'], labels: { tier: 'front' } });
    await call('POST', '/v1/tenants/acme/containers', { name: 'infra', image: 'busybox', networks: ['blue'] }); // 400 reserved_name
    // external network, router gateway, floating IPs (docs/api.md "External networks and floating IPs")
    await call('POST', '/v1/tenants', { name: 'provider' });
    const ext = { type: 'physical', params: { type: 'physical', physicalNetwork: 'ext' }, cidr: '203.0.113.0/24' };
    await call('POST', '/v1/tenants/provider/networks', {
      name: 'ext',
      ...ext,
      pools: [{ start: '203.0.113.10', end: '203.0.113.20' }],
      external: true,
    });
    await call('POST', '/v1/tenants/acme/routers/r1/attach', { network: 'blue' });
    await call('PATCH', '/v1/tenants/acme/routers/r1', { externalNetwork: 'provider/ext' });
    const fip = await call('POST', '/v1/tenants/acme/floating-ips', { network: 'provider/ext' });
    await call('POST', '/v1/tenants/acme/floating-ips', { network: 'provider/nosuch' }); // 404 external_network_not_found
    await call('GET', '/v1/tenants/acme/floating-ips');
    await call('GET', `/v1/tenants/acme/floating-ips/${fip.ip}`);
    await call('POST', `/v1/tenants/acme/floating-ips/${fip.ip}/associate`, { container: 'a' });
    await call('POST', `/v1/tenants/acme/floating-ips/${fip.ip}/disassociate`);
    await call('DELETE', `/v1/tenants/acme/floating-ips/${fip.ip}`);
    await call('PATCH', '/v1/tenants/acme/routers/r1', { externalNetwork: null });
    await call('POST', '/v1/tenants/acme/routers/r1/detach', { network: 'blue' });

    await call('GET', '/v1/tenants/acme/containers?label=tier=front&network=blue');
    await call('GET', '/v1/tenants/acme/containers/a');
    await call('GET', '/v1/tenants/acme/containers/infra-blue');
    await call('PATCH', '/v1/tenants/acme/containers/a', { memory: '1G', labels: { tier: null } });
    await call('POST', '/v1/tenants/acme/containers/a/networks', { network: 'sec' });
    await call('POST', '/v1/tenants/acme/containers/a/networks', { network: 'sec' }); // 409: already attached
    await call('DELETE', '/v1/tenants/acme/containers/a/networks/sec');
    await call('POST', '/v1/tenants/acme/containers/a/actions', { action: 'stop' });
    await call('GET', '/v1/tenants/acme/containers/a/logs?tail=10'); // no agent: 503 node_unavailable
    await call('GET', '/v1/tenants/acme/containers/a/packages');
    await call('GET', '/v1/tenants/acme/containers/a/outdated');
    await call('POST', '/v1/tenants/acme/containers/a/upgrade', {});
    await call('GET', '/v1/tenants/acme/endpoints?network=blue');
    await call('GET', '/v1/tenants/acme/endpoints?network=nosuch'); // 404
    await call('DELETE', '/v1/tenants/acme/networks/blue'); // 409 in_use
    await call('GET', '/v1/nodes');
    await call('GET', '/v1/nodes/node-a');
    await call('GET', '/v1/status');
    const token = await call('POST', '/v1/tokens', { kind: 'tenant', tenant: 'acme' });
    await call('GET', '/v1/tokens');
    await call('DELETE', `/v1/tokens/${token.id}`);
    await call('GET', '/v1/tenants/acme/images/outdated');
    await call('POST', '/v1/tenants/acme/image-repositories', { name: 'main', url: 'https://repo.example/el9/', publicKey: KEY });
    await call('GET', '/v1/tenants/acme/image-repositories');
    await call('GET', '/v1/tenants/acme/image-repositories/main');
    await call('DELETE', '/v1/tenants/acme/image-repositories/main');
    await call('POST', '/v1/tenants/acme/package-repositories', { name: 'base', url: 'https://mirror.example/el9/', publicKey: KEY });
    await call('GET', '/v1/tenants/acme/package-repositories');
    await call('DELETE', '/v1/tenants/acme/package-repositories/base');
    await new Promise((r) => setTimeout(r, 1200)); // the audit log is written once a second
    await call('GET', '/v1/audit?limit=5');
    await call('DELETE', '/v1/tenants/acme/containers/a');
    await call('DELETE', '/v1/tenants/acme/security-groups/web');
    await call('DELETE', '/v1/tenants/acme/routers/r1');
    await call('DELETE', '/v1/tenants/acme/networks/sec');
    await call('DELETE', '/v1/nodes/node-a');
    await call('DELETE', '/v1/tenants/gone');

    // every route was answered; each with a success unless it needs what this test has not
    const missing = ROUTES.map((r) => `${r.method} ${r.url}`).filter((k) => !NO_SUCCESS_HERE.has(k) && !seen.get(k)?.some((s) => s < 300));
    expect(missing).toEqual([]);
    const unexercised = [...NO_SUCCESS_HERE].filter((k) => k !== 'GET /v1/events' && !seen.has(k));
    expect(unexercised).toEqual([]);
    // the error answers this run met (each validated above against the Error schema)
    const errors = [...seen.values()].flat().filter((s) => s >= 400);
    expect(new Set(errors)).toEqual(new Set([400, 404, 409, 503]));
  });
});
