/**
 * A "datacenter switch" for physical network tests and the demo: a namespace `frw-<tag>` with one
 * bridge per segment; every node namespace gets a veth into each segment (`eth1`, `eth2` … inside
 * the node, mapped by its agent with --physical-network NAME=ethN), and each "bare-metal server" is
 * a namespace `frm<k><j>-<tag>` whose eth0 (or its 802.1Q sub-interface) has a fixed address on the
 * segment: hosts Freight does not own. Nothing touches the root namespace; the harness's cleanup
 * removes every namespace made here.
 */
import { sh } from '../support/netns.js';
import type { Harness } from './harness.js';

export interface Segment {
  /** the physical network name the agents map */
  name: string;
  /** bare-metal servers on the segment: address/prefix, and a VLAN they sit on (tagged), else untagged */
  servers: Array<{ address: string; vlan?: number }>;
}

export interface Switch {
  ns: string;
  /** server namespaces per segment, in the order given */
  servers: string[][];
  /** bridge of segment k in the switch namespace */
  bridge(k: number): string;
  /** the switch port of node i on segment k (tcpdump here sees the node's frames as the wire carries them) */
  port(node: number, k: number): string;
  /** node interface of segment k: eth1, eth2 … */
  nodeIf(k: number): string;
}

export function addSwitch(h: Harness, segments: Segment[]): Switch {
  const ns = h.addNamespace('frw');
  const sw: Switch = {
    ns,
    servers: [],
    bridge: (k) => `sw${k}`,
    port: (i, k) => `n${i}s${k}`,
    nodeIf: (k) => `eth${k + 1}`,
  };
  segments.forEach((seg, k) => {
    sh('ip', ['-n', ns, 'link', 'add', sw.bridge(k), 'type', 'bridge']);
    sh('ip', ['-n', ns, 'link', 'set', sw.bridge(k), 'up']);
    for (let i = 0; i < h.nodeCount; i++) {
      const node = h.node(i).ns;
      sh('ip', ['-n', ns, 'link', 'add', sw.port(i, k), 'type', 'veth', 'peer', 'name', sw.nodeIf(k), 'netns', node]);
      sh('ip', ['-n', ns, 'link', 'set', sw.port(i, k), 'master', sw.bridge(k), 'up']);
      // a dedicated interface: no address, not even IPv6 link-local chatter
      sh('ip', ['netns', 'exec', node, 'sysctl', '-qw', `net.ipv6.conf.${sw.nodeIf(k)}.disable_ipv6=1`], { allowFail: true });
      sh('ip', ['-n', node, 'link', 'set', sw.nodeIf(k), 'up']);
    }
    sw.servers.push(
      seg.servers.map((srv, j) => {
        const server = h.addNamespace(`frm${k}${j}`);
        const port = `s${k}x${j}`;
        sh('ip', ['-n', ns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', server]);
        sh('ip', ['-n', ns, 'link', 'set', port, 'master', sw.bridge(k), 'up']);
        sh('ip', ['-n', server, 'link', 'set', 'eth0', 'up']);
        let dev = 'eth0';
        if (srv.vlan !== undefined) {
          dev = `eth0.${srv.vlan}`;
          sh('ip', ['-n', server, 'link', 'add', 'link', 'eth0', 'name', dev, 'type', 'vlan', 'id', String(srv.vlan)]);
          sh('ip', ['-n', server, 'link', 'set', dev, 'up']);
        }
        sh('ip', ['-n', server, 'addr', 'add', srv.address, 'dev', dev]);
        return server;
      }),
    );
  });
  return sw;
}

/** `--physical-network NAME=ethN` for every segment. */
export const mappingArgs = (segments: Segment[]): string[] =>
  segments.flatMap((seg, k) => ['--physical-network', `${seg.name}=eth${k + 1}`]);
