import { z } from 'zod';
import { Ipv4, Name } from './common.js';
import { ExecArgv, ExecData, ExecExit, ExecSize, ExecStream } from './exec.js';
import { NodeView, ViewOp } from './view.js';

/** A network this node cannot carry, and why (the agent's dataplane reports it in its status). */
export const NetworkError = z.object({ network: z.string(), message: z.string().max(2000) });
export type NetworkError = z.infer<typeof NetworkError>;

/** Kernel capabilities the agent probes at start and reports. */
export const Capabilities = z.object({
  vxlan: z.boolean(),
  geneve: z.boolean(),
  esp: z.boolean(),
  aead: z.boolean(),
  nft: z.boolean(),
  nspawn: z.boolean(),
  /** 802.1Q VLAN sub-interfaces (probed on a mapped interface; false without mappings). Optional for older agents. */
  vlan: z.boolean().default(false),
  /** The node's physical network mappings (`--physical-network NAME=IFACE`) and each interface's MTU. */
  physicalNetworks: z
    .record(Name, z.object({ interface: z.string().min(1).max(15), mtu: z.number().int().min(68).max(65535) }))
    .default({}),
  details: z.record(z.string(), z.string()).default({}),
});
export type Capabilities = z.infer<typeof Capabilities>;

export const ContainerStatus = z.object({
  id: z.string(),
  state: z.enum(['pending', 'running', 'stopped', 'exited', 'failed']),
  exitCode: z.number().int().nullable().default(null),
  reason: z.string().max(2000).nullable().default(null),
  restarts: z.number().int().default(0),
});
export type ContainerStatus = z.infer<typeof ContainerStatus>;

/** One component of a container's root, as its own rpm database records it (images/packages.ts checks each field). */
export const PackageRecord = z.object({
  name: z.string().max(200),
  epoch: z.number().int().min(0),
  version: z.string().max(128),
  release: z.string().max(128),
  arch: z.string().max(32),
  /** Key id of the package's signature (hex), null when installed unsigned. */
  key: z.string().max(40).nullable(),
});
export type PackageRecord = z.infer<typeof PackageRecord>;

/**
 * DHCP/DNS counters of a network's infra instance, read by its node from the instance's /metrics
 * (docs/infra.md). Totals since the server started; a restart starts them again.
 */
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const InfraCounters = z.object({
  /** leases handed out and not expired (a gauge) */
  dhcpLeases: Count,
  /** DHCP replies: offers, acks, naks, informs */
  dhcpAnswers: Count,
  /** DHCP packets received */
  dhcpPackets: Count,
  /** malformed DHCP packets and handler failures */
  dhcpErrors: Count,
  /** DNS messages received (UDP and TCP) */
  dnsQueries: Count,
  /** malformed DNS messages, failed forwards and SERVFAIL answers */
  dnsErrors: Count,
  /** DNS queries forwarded to the upstreams */
  dnsForwarded: Count,
});
export type InfraCounters = z.infer<typeof InfraCounters>;

/** Bounds of one packages answer: what a node reads of a root at most (PACKAGE_LIMITS). */
export const MAX_PACKAGES = 20_000;

/** One exec on one stream (chosen by the controller). */
const ExecId = z.uuid();

/** A peer's heartbeat interval (ms), sent on its pings: each side times out on the other's interval, not its own. */
const PingEvery = z.number().int().min(1).max(86_400_000);

/** How long a peer that pings every `every` ms (or `own`, when it did not say) may stay silent. */
export function silenceMs(own: number, every: number | undefined, missed = MISSED_HEARTBEATS): number {
  return Math.max(own, every ?? 0) * missed;
}

/** Agent → controller. */
export const AgentMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    node: z.string(),
    underlayIp: Ipv4,
    revision: z.number().int().min(0),
    capabilities: Capabilities,
    underlayMtu: z.number().int().min(576).max(65535).default(1500),
    /** The agent dropped deltas it could not keep up with: answer with a snapshot, whatever `revision` says. */
    resync: z.boolean().optional(),
    /** Delta encodings the agent reads besides plain ops (`ops1`: protocol/compact-ops.ts); unknown ones are ignored. */
    encodings: z.array(z.string().max(32)).max(16).optional(),
    /**
     * On-demand requests the agent answers besides logs, packages and sg-stats (`infra-counters`):
     * an older agent, which would take an unknown message for a bad one and resync, is never sent them.
     */
    requests: z.array(z.string().max(32)).max(16).optional(),
  }),
  z.object({ type: z.literal('ack'), revision: z.number().int().min(0) }),
  /** Heartbeat; `every` is the agent's interval in ms, so the controller waits long enough (optional for older agents). */
  z.object({ type: z.literal('ping'), t: z.number(), every: PingEvery.optional() }),
  z.object({
    type: z.literal('status'),
    containers: z.array(ContainerStatus).max(10_000).default([]),
    networkErrors: z.array(NetworkError).max(10_000).default([]),
  }),
  z.object({ type: z.literal('logs'), requestId: z.string(), text: z.string(), error: z.string().optional() }),
  /** The answer to a packages request: the container root's rpm database, read on the node (never run). */
  z.object({
    type: z.literal('packages'),
    requestId: z.string(),
    packages: z.array(PackageRecord).max(MAX_PACKAGES).default([]),
    /** records of the database dropped as malformed */
    invalid: z.number().int().min(0).default(0),
    truncated: z.boolean().default(false),
    error: z.string().max(2000).optional(),
  }),
  /** The answer to an sg-stats request: packets and bytes per security group rule id, read from nft now. */
  z.object({
    type: z.literal('sg-stats'),
    requestId: z.string(),
    rules: z.record(z.string(), z.object({ packets: z.number().min(0), bytes: z.number().min(0) })).default({}),
    error: z.string().max(2000).optional(),
  }),
  /** The answer to an infra-counters request: the instance's DHCP/DNS counters, scraped now. */
  z.object({
    type: z.literal('infra-counters'),
    requestId: z.string(),
    counters: InfraCounters.optional(),
    error: z.string().max(2000).optional(),
  }),
  /** `container exec` (docs/push.md): the process runs, its output, how it ended. */
  z.object({ type: z.literal('exec-started'), execId: ExecId }),
  z.object({ type: z.literal('exec-output'), execId: ExecId, stream: ExecStream, data: ExecData }),
  ExecExit.extend({ type: z.literal('exec-exit'), execId: ExecId }),
]);
export type AgentMessage = z.infer<typeof AgentMessage>;

/** Controller → agent. */
export const ControllerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('snapshot'), revision: z.number().int(), view: NodeView }),
  z.object({ type: z.literal('delta'), from: z.number().int(), revision: z.number().int(), ops: z.array(ViewOp) }),
  /** Heartbeat; `revision` is the newest revision the controller has processed (nothing for this node up to it). */
  /** `every` is the controller's interval in ms: the agent's silence timeout follows it (optional for older controllers). */
  z.object({ type: z.literal('ping'), revision: z.number().int(), t: z.number(), every: PingEvery.optional() }),
  z.object({ type: z.literal('logs'), requestId: z.string(), container: z.string(), tail: z.number().int() }),
  z.object({ type: z.literal('packages'), requestId: z.string(), container: z.string() }),
  /** Per-rule counters of these security group rules (`sg show --stats`). */
  z.object({ type: z.literal('sg-stats'), requestId: z.string(), rules: z.array(z.string().max(64)).max(1000) }),
  /** The DHCP/DNS counters of an infra instance (`container show TENANT/infra-NET`). */
  z.object({ type: z.literal('infra-counters'), requestId: z.string(), container: z.string().max(64) }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
  /** `container exec` (docs/push.md): start a command in a container, its input, its terminal size, kill it. */
  z.object({
    type: z.literal('exec'),
    execId: ExecId,
    container: z.string().max(64),
    argv: ExecArgv,
    tty: z.boolean(),
    size: ExecSize.optional(),
  }),
  z.object({ type: z.literal('exec-input'), execId: ExecId, data: ExecData.optional(), eof: z.boolean().optional() }),
  z.object({ type: z.literal('exec-resize'), execId: ExecId, size: ExecSize }),
  z.object({ type: z.literal('exec-kill'), execId: ExecId }),
]);
export type ControllerMessage = z.infer<typeof ControllerMessage>;

export const HEARTBEAT_MS = 2000;
/** A node silent for this many heartbeat intervals is NotReady. */
export const MISSED_HEARTBEATS = 3;
