import { z } from 'zod';
import { ApiError as ApiErrorSchema } from '../../protocol/api.js';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import { MERGE_PATCH_TYPE } from '../../protocol/merge-patch.js';
import type { RouteDef } from './route.js';

// OpenAPI 3.1 schemas are JSON Schema 2020-12, zod's default target; only the $schema tag goes
const toJson = (s: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...schema } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return schema;
};

const IDEMPOTENCY_PARAM = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'a fresh random value per request (16–255 printable ASCII, e.g. a UUID): a retry with the same key and body gets the first answer ' +
    '(header Idempotent-Replayed: true), the same key with another request 422 idempotency_key_reused; kept 24 h',
  schema: { type: 'string', minLength: 16, maxLength: 255 },
};

/** PATCH bodies are JSON merge patches (RFC 7386); the API takes application/json there too. */
const bodyType = (d: RouteDef) => (d.method === 'PATCH' ? MERGE_PATCH_TYPE : 'application/json');

/** The object each path parameter names, and the code answering when it does not exist. */
const NOT_FOUND: Record<string, ErrorCode> = {
  tenant: 'tenant_not_found',
  network: 'network_not_found',
  router: 'router_not_found',
  node: 'node_not_found',
  id: 'token_not_found',
  group: 'security_group_not_found',
  rule: 'security_rule_not_found',
};
const nameNotFound = (url: string): ErrorCode =>
  url.includes('/image-repositories/')
    ? 'image_repo_not_found'
    : url.includes('/package-repositories/')
      ? 'package_repo_not_found'
      : 'container_not_found';

/**
 * The error codes an operation can answer: those every route has (authentication, the database),
 * those its shape implies (a body or query to validate, the objects its URL names, idempotency,
 * admin-only routes and fields), and the ones it declares (`RouteDef.errors`).
 */
export function errorsOf(d: RouteDef): ErrorCode[] {
  const codes = new Set<ErrorCode>(['unauthenticated', 'too_many_auth_failures', 'forbidden', 'database_unavailable', 'internal']);
  if (d.body) ['invalid', 'bad_json', 'body_too_large', 'unsupported_media_type'].forEach((c) => codes.add(c as ErrorCode));
  if (d.query) ['invalid', 'unknown_parameter'].forEach((c) => codes.add(c as ErrorCode));
  if (d.adminFields) codes.add('admin_only_field');
  if (d.method === 'POST') ['invalid', 'idempotency_key_reused', 'idempotency_key_in_progress'].forEach((c) => codes.add(c as ErrorCode));
  if (d.method === 'PATCH') codes.add('immutable_field');
  if (d.method === 'POST' && (d.status ?? 200) === 201) codes.add('conflict');
  for (const m of d.url.matchAll(/:([A-Za-z]+)/g)) codes.add(m[1] === 'name' ? nameNotFound(d.url) : (NOT_FOUND[m[1]] ?? 'not_found'));
  for (const c of d.errors ?? []) codes.add(c);
  return [...codes];
}

/** `/v1/tenants/:tenant/networks/…` → `networks`: the tag is the collection the path is about. */
export function tagOf(url: string): string {
  const parts = url.split('/').filter((p) => p && !p.startsWith(':') && p !== 'v1');
  const known = [
    'containers',
    'networks',
    'routers',
    'security-groups',
    'image-repositories',
    'package-repositories',
    'images',
    'endpoints',
  ];
  return parts.find((p) => known.includes(p)) ?? parts[0] ?? 'other';
}

const TAGS: Record<string, string> = {
  tenants: 'isolation domains (admin creates them)',
  networks: "a tenant's L2 networks and their infra instances",
  routers: "a tenant's routers: routing between its networks, egress",
  'security-groups': 'stateful per-container firewall rules',
  containers: 'containers: lifecycle, logs, exec, packages',
  endpoints: 'the IP/MAC → node table',
  nodes: 'hosts running freight-agent (admin)',
  status: 'cluster revisions per node (admin)',
  tokens: 'API tokens (admin)',
  audit: 'the audit log (admin)',
  events: 'the change stream',
  'image-repositories': "a tenant's signed yum repositories of images",
  images: 'image versions in use and newer ones',
  'package-repositories': "a tenant's package repositories (component updates)",
};

/** The success answer of an operation. */
function success(d: RouteDef): Record<string, unknown> {
  if (d.response === null) return { 204: { description: 'done; no body' } };
  if (d.response === 'text/event-stream')
    return {
      200: { description: 'Server-Sent Events (docs/api.md "Events")', content: { 'text/event-stream': { schema: { type: 'string' } } } },
    };
  return {
    [String(d.status ?? 200)]: { description: 'success', content: { 'application/json': { schema: toJson(d.response, 'output') } } },
  };
}

/** One response per error status of the operation, its description naming the codes. */
function errorResponses(d: RouteDef): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of errorsOf(d)) byStatus.set(ERROR_STATUS[c], [...(byStatus.get(ERROR_STATUS[c]) ?? []), c]);
  return Object.fromEntries(
    [...byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, codes]) => [
        String(status),
        { description: codes.join(', '), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      ]),
  );
}

/** The OpenAPI 3 document, generated from the route table and its zod schemas. */
export function openApiDocument(defs: RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of defs) {
    const url = d.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...d.url.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query = d.query ? queryParams(toJson(d.query, 'input')) : [];
    paths[url] ??= {};
    paths[url][d.method.toLowerCase()] = {
      summary: d.summary,
      operationId: d.op.replace(/\W+(\w)/g, (_, c: string) => c.toUpperCase()),
      tags: [tagOf(d.url)],
      security: [{ bearer: [] }],
      parameters: [...params, ...query, ...(d.method === 'POST' ? [IDEMPOTENCY_PARAM] : [])],
      ...(d.adminFields ? { 'x-admin-only-fields': d.adminFields } : {}),
      ...(d.body ? { requestBody: { required: true, content: { [bodyType(d)]: { schema: toJson(d.body, 'input') } } } } : {}),
      responses: { ...success(d), ...errorResponses(d) },
    };
  }
  const used = [...new Set(defs.map((d) => tagOf(d.url)))];
  return {
    openapi: '3.1.0',
    info: { title: 'Freight controller API', version },
    servers: [{ url: '/', description: 'the controller itself (https://HOST:7400 by default; freightctl --url)' }],
    tags: [...used.map((name) => ({ name, description: TAGS[name] ?? name })), { name: 'health', description: 'liveness and metrics' }],
    paths: {
      ...paths,
      '/healthz': {
        get: {
          summary: 'liveness and database reachability',
          operationId: 'healthz',
          tags: ['health'],
          responses: {
            200: { description: 'ok' },
            503: { description: 'database unreachable or not answering within 2 s (database: unreachable|timeout)' },
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          operationId: 'metrics',
          tags: ['health'],
          responses: { 200: { description: 'text/plain exposition', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorSchema() },
    },
  };
}

/** The error body, its `code` one of the catalogue's stable codes. */
function errorSchema(): Record<string, unknown> {
  const schema = toJson(ApiErrorSchema, 'output') as { properties: Record<string, Record<string, unknown>> };
  schema.properties.code = { ...schema.properties.code, enum: Object.keys(ERROR_STATUS) };
  return schema;
}

function queryParams(schema: Record<string, unknown>) {
  const props = (schema.properties ?? {}) as Record<string, unknown>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({ name, in: 'query', required: required.has(name), schema: s }));
}
