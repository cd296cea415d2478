import { describe, expect, it } from 'vitest';
import { auditObject } from './audit-object.js';

describe('auditObject', () => {
  it('names the object of each route shape', () => {
    expect(auditObject('/v1/tenants', {}, 'acme')).toBe('tenant acme');
    expect(auditObject('/v1/tenants/:tenant', { tenant: 'acme' })).toBe('tenant acme');
    expect(auditObject('/v1/tenants/:tenant/networks', { tenant: 'acme' }, 'blue')).toBe('network acme/blue');
    expect(auditObject('/v1/tenants/:tenant/networks/:network/rotate-keys', { tenant: 'acme', network: 'blue' })).toBe('network acme/blue');
    expect(auditObject('/v1/tenants/:tenant/containers/:name/actions', { tenant: 'acme', name: 'web' })).toBe('container acme/web');
    expect(auditObject('/v1/tenants/:tenant/image-repositories/:name', { tenant: 'acme', name: 'r' })).toBe('image-repository acme/r');
    expect(auditObject('/v1/tokens', {}, 'f00')).toBe('token f00');
    expect(auditObject('/v1/tokens/:id', { id: 'f00' })).toBe('token f00');
    expect(auditObject('/v1/nodes/:node', { node: 'n1' })).toBe('node n1');
    expect(auditObject(undefined, {})).toBeNull();
  });

  it('bounds what a client sent', () => {
    expect(auditObject('/v1/tenants/:tenant', { tenant: 'x'.repeat(5000) })!.length).toBe(300);
  });
});
