import { describe, expect, it } from 'vitest';
import { nftText, tableText } from './nft-text.js';
import type { NftTable } from './nft.js';

const rule = (expr: unknown[], comment = 'sg1 x') => ({ add: { rule: { family: 'inet', table: 'freight', chain: 'c', comment, expr } } });
const elems = (elem: unknown[]) => ({ add: { element: { family: 'inet', table: 'freight', name: 's', elem } } });

describe('nftText', () => {
  it('renders the shapes the agent writes', () => {
    const text = nftText([
      rule([
        {
          match: {
            op: '==',
            left: { concat: [{ meta: { key: 'iifname' } }, { payload: { protocol: 'ip', field: 'saddr' } }] },
            right: '@r_1',
          },
        },
        { match: { op: '==', left: { payload: { protocol: 'th', field: 'dport' } }, right: { range: [80, 90] } } },
        { counter: null },
        { accept: null },
      ]),
      elems([{ concat: ['frb-100', '10.0.0.5'] }]),
    ]);
    expect(text).toBe(
      'add rule inet freight c meta iifname . ip saddr @r_1 th dport 80-90 counter accept comment "sg1 x"\n' +
        'add element inet freight s { "frb-100" . 10.0.0.5 }\n',
    );
  });

  it('gives up (the JSON is applied instead) on anything that is not a plain token, so nothing can be injected', () => {
    const accept = [{ accept: null }];
    expect(nftText([rule(accept, 'x" ; flush ruleset ; "')])).toBeUndefined();
    expect(nftText([rule(accept, 'line\nadd table ip evil')])).toBeUndefined();
    expect(nftText([elems(['eth0 } ; flush ruleset'])])).toBeUndefined();
    expect(nftText([elems(['a"b'])])).toBeUndefined();
    expect(nftText([rule([{ match: { op: '==', left: { meta: { key: 'mark' } }, right: '0x1; drop' } }, ...accept])])).toBeUndefined();
    // an expression the renderer does not know
    expect(nftText([rule([{ snat: { addr: '198.18.0.1' } }])])).toBeUndefined();
    expect(nftText([{ flush: { ruleset: null } }])).toBeUndefined();
  });

  it('renders a table replacement in block syntax, and refuses what it cannot say or what JSON would refuse', () => {
    const t: NftTable = {
      family: 'inet',
      counters: ['c1'],
      sets: [{ name: 's', type: ['ifname', 'ipv4_addr'], elems: ['frb-100 . 10.0.0.5'], counter: true }],
      chains: [{ name: 'sg_zone', hook: 'prerouting', prio: -300 }],
      rules: [
        {
          chain: 'sg_zone',
          comment: 'sg1 zone frb-100 100',
          expr: [
            { match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'frb-100' } },
            { mangle: { key: { ct: { key: 'zone' } }, value: 100 } },
          ],
        },
      ],
    };
    expect(tableText(t, { c1: { packets: 7, bytes: 700 } })).toBe(
      [
        'add table inet freight',
        'delete table inet freight',
        'table inet freight {',
        'counter c1 { packets 7 bytes 700 }',
        'set s { type ifname . ipv4_addr; counter;',
        'elements = { "frb-100" . 10.0.0.5 }',
        '}',
        'chain sg_zone {',
        'type filter hook prerouting priority -300; policy accept;',
        'meta iifname "frb-100" ct zone set 100 comment "sg1 zone frb-100 100"',
        '}',
        '}',
        '',
      ].join('\n'),
    );
    expect(tableText({ ...t, rules: [{ ...t.rules[0], comment: 'x"; flush ruleset' }] })).toBeUndefined();
    expect(tableText({ ...t, rules: [{ ...t.rules[0], chain: 'elsewhere' }] })).toBeUndefined();
    expect(tableText({ ...t, sets: [{ ...t.sets[0], elems: ['frb-100 } . 10.0.0.5'] }] })).toBeUndefined();
  });
});
