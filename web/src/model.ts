/** The objects as the REST API shows them (docs/api.md); only the fields the console reads. */
export interface Tenant {
  id: string;
  name: string;
}
export interface Network {
  id: string;
  tenant: string;
  name: string;
  type: string;
  vni: number | null;
  cidr: string;
  gateway: string | null;
  mtu: number | null;
  domain: string;
  infra: { name: string; ip: string; mac: string; node: string | null } | null;
  updatedAt?: string;
}
export interface ContainerEndpoint {
  network: string;
  ip: string;
  mac: string;
}
export interface Container {
  id: string;
  tenant: string;
  name: string;
  kind: 'container' | 'infra';
  image: string;
  node: string | null;
  desiredState: string;
  observedState: string;
  exitCode: number | null;
  reason: string | null;
  restarts: number;
  endpoints: ContainerEndpoint[];
  updatedAt?: string;
}
export interface Node {
  id: string;
  name: string;
  underlayIp: string;
  ready: boolean;
  lastSeen: string | null;
  capabilities: unknown;
  appliedRevision: number;
  desiredRevision: number;
  lag: number;
  containers: number;
}
export interface Router {
  id?: string;
  tenant: string;
  name: string;
  external: boolean;
  networks: Array<{ name: string; cidr: string; gateway: string | null }>;
}
/** One message of GET /v1/events (protocol/events.ts ChangeEvent). */
export interface ChangeEvent {
  revision: number;
  kind: string;
  op: 'create' | 'update' | 'delete' | 'status';
  id: string;
  tenant: string | null;
  object: Record<string, unknown> | null;
}
