import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { InfraCounters } from '../../protocol/stream.js';

/** What the agent reads of an infra instance's /metrics at most: its answer is data from a tenant-adjacent process. */
export const METRICS_LIMITS = { bytes: 256 * 1024, lines: 5000, timeoutMs: 2000 } as const;

/** O_PATH: an fd naming the socket file without opening it (not exported by node:fs). */
const O_PATH = 0o10000000;

// one sample line of the text format, unlabelled: `freight_infra_<name> <value>`
const SAMPLE = /^freight_infra_([a-zA-Z0-9_]{1,100}) ([0-9]{1,20}(?:\.[0-9]{1,20})?(?:e\+?[0-9]{1,3})?)$/;

/**
 * The DHCP/DNS counters out of prom-client text (pure). Anything else — labelled series,
 * histograms, comments, junk, negative or huge values, duplicates — is skipped, never thrown on;
 * a missing counter is 0 (counters appear on first use). Throws only if no freight_infra_ sample
 * at all was found (not an infra server's /metrics).
 */
export function parseInfraCounters(text: string): InfraCounters {
  const v = new Map<string, number>();
  let lines = 0;
  for (const line of text.split('\n')) {
    if (++lines > METRICS_LIMITS.lines) break;
    const m = SAMPLE.exec(line.trimEnd());
    if (!m || v.has(m[1])) continue;
    const n = Number(m[2]);
    if (Number.isSafeInteger(n) && n >= 0) v.set(m[1], n);
  }
  if (v.size === 0) throw new Error('no freight_infra_ counters in the metrics answer');
  const get = (name: string) => v.get(name) ?? 0;
  const sum = (...names: string[]) =>
    Math.min(
      Number.MAX_SAFE_INTEGER,
      names.reduce((a, n) => a + get(n), 0),
    );
  return InfraCounters.parse({
    dhcpLeases: get('dhcp_leases_active'),
    dhcpAnswers: sum('dhcp_offer', 'dhcp_ack', 'dhcp_nak', 'dhcp_inform'),
    dhcpPackets: get('dhcp_packets'),
    dhcpErrors: sum('dhcp_malformed', 'dhcp_errors'),
    dnsQueries: get('dns_packets'),
    dnsErrors: sum('dns_malformed', 'dns_forward_failed', 'dns_rcode_SERVFAIL'),
    dnsForwarded: get('dns_forwarded'),
  });
}

/**
 * GET /metrics of the infra instance whose run directory (bound at /run/freight inside it) is `runDir`.
 * The directory is writable from the container: the socket is opened O_PATH|O_NOFOLLOW and must be a
 * socket, then connected through /proc/self/fd, so a symlink planted there never points the agent at
 * another socket of the node. Bounded in time and bytes.
 */
export function readInfraCounters(runDir: string, timeoutMs: number = METRICS_LIMITS.timeoutMs): Promise<InfraCounters> {
  let fd: number;
  try {
    fd = openSync(join(runDir, 'metrics.sock'), O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    return Promise.reject(new Error(`metrics socket: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
  }
  if (!fstatSync(fd).isSocket()) {
    closeSync(fd);
    return Promise.reject(new Error('metrics socket: not a socket'));
  }
  return new Promise<InfraCounters>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: Error | null, value?: InfraCounters) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      closeSync(fd);
      if (err) reject(err);
      else resolve(value as InfraCounters);
    };
    const req = request({ socketPath: `/proc/self/fd/${fd}`, path: '/metrics', method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > METRICS_LIMITS.bytes) {
          req.destroy();
          return finish(new Error(`metrics answer over ${METRICS_LIMITS.bytes} bytes`));
        }
        chunks.push(d);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return finish(new Error(`metrics answer: status ${res.statusCode}`));
        try {
          finish(null, parseInfraCounters(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          finish(err as Error);
        }
      });
      res.on('error', (err) => finish(err));
    });
    timer = setTimeout(() => {
      req.destroy();
      finish(new Error(`metrics socket: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => finish(new Error(`metrics socket: ${err.message}`)));
    req.end();
  });
}
