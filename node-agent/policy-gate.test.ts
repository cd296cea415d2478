import { describe, expect, it } from 'vitest';
import type { NodeView, ViewContainer } from '../protocol/view.js';
import { holdBackGuarded, inetFailed } from './policy-gate.js';
import { viewContainer } from '../test/support/view.js';

const ct = (id: string, guarded: boolean): ViewContainer => viewContainer(id, guarded ? { securityGroups: [] } : {});
const view = (cs: ViewContainer[]): NodeView => ({
  node: 'n1',
  underlayIp: '198.18.0.1',
  revision: 1,
  networks: {},
  endpoints: {},
  keys: {},
  containers: Object.fromEntries(cs.map((c) => [c.id, c])),
});

describe('policy gate', () => {
  it('holds back new containers under policy when the inet batch failed; running and unguarded ones go on', () => {
    const v = view([ct('new', true), ct('old', true), ct('infra', false)]);
    const g = holdBackGuarded(v, new Set(['old']));
    expect(g.held).toEqual(['new']);
    expect(Object.keys(g.view.containers).sort()).toEqual(['infra', 'old']);
    expect(Object.keys(v.containers)).toHaveLength(3); // the input is not changed
    expect(holdBackGuarded(v, new Set(['new', 'old'])).view).toBe(v);
  });

  it('recognises a failed batch of the inet table only', () => {
    expect(inetFailed([{ op: 'replace table inet freight (missing)' }])).toBe(true);
    expect(inetFailed([{ op: 'update table bridge freight: ports +1 -0 (elements)' }])).toBe(false);
  });
});
