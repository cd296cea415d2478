import { z } from 'zod';
import { ApiError as ApiErrorSchema } from '../../protocol/api.js';
import { ERROR_STATUS } from '../errors.js';
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
    const errors = Object.fromEntries(
      [...new Set(Object.values(ERROR_STATUS))].map((s) => [String(s), { $ref: '#/components/responses/Error' }]),
    );
    paths[url] ??= {};
    paths[url][d.method.toLowerCase()] = {
      summary: d.summary,
      operationId: d.op.replace(/\W+(\w)/g, (_, c: string) => c.toUpperCase()),
      security: [{ bearer: [] }],
      parameters: [...params, ...query, ...(d.method === 'POST' ? [IDEMPOTENCY_PARAM] : [])],
      ...(d.adminFields ? { 'x-admin-only-fields': d.adminFields } : {}),
      ...(d.body ? { requestBody: { required: true, content: { [bodyType(d)]: { schema: toJson(d.body, 'input') } } } } : {}),
      responses: { [String(d.status ?? 200)]: { description: 'success' }, ...errors },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Freight controller API', version },
    paths: {
      ...paths,
      '/healthz': {
        get: {
          summary: 'liveness and database reachability',
          responses: {
            200: { description: 'ok' },
            503: { description: 'database unreachable or not answering within 2 s (database: unreachable|timeout)' },
          },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain exposition' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorSchema() },
      responses: { Error: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
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
