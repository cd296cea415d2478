/**
 * Samples a namespace's `ip xfrm state` every ~100 ms (one bash loop in the namespace: under
 * TCG a process spawn from node costs far more than an exec from a shell) and records, per
 * sample, which SPIs the node sends with (src = its underlay address) and receives with.
 */
import { spawn } from 'node:child_process';

export interface SpiSample {
  /** ms since the epoch (the guest's clock, read by bash) */
  at: number;
  out: Set<number>;
  in: Set<number>;
}

export interface XfrmWatch {
  stop(): Promise<SpiSample[]>;
}

/** Parses the loop's output: `@ <epoch seconds>` then that sample's `ip xfrm state` text. */
export function parseSamples(text: string, self: string): SpiSample[] {
  const samples: SpiSample[] = [];
  for (const chunk of text.split(/^@ /m).slice(1)) {
    const end = chunk.indexOf('\n=\n');
    if (end < 0) continue; // the sample being written when the loop stopped
    const at = Math.round(Number(chunk.slice(0, chunk.indexOf('\n'))) * 1000);
    const s: SpiSample = { at, out: new Set(), in: new Set() };
    for (const m of chunk.slice(0, end).matchAll(/^src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)/gm)) {
      if (m[1] === self) s.out.add(Number(m[3]));
      else if (m[2] === self) s.in.add(Number(m[3]));
    }
    samples.push(s);
  }
  return samples;
}

export function watchXfrm(ns: string, self: string, periodMs = 100): XfrmWatch {
  // the pause is bash's `read -t` on a pipe nobody writes to: no `sleep` process per sample
  const loop = `exec 3<> <(:); while :; do echo "@ $EPOCHREALTIME"; ip xfrm state; echo =; read -t ${periodMs / 1000} -u 3; done`;
  const p = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', loop], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<void>((resolve) => p.on('close', () => resolve()));
  return {
    async stop() {
      p.kill('SIGKILL');
      await ended;
      return parseSamples(out, self);
    },
  };
}

/** Index of the first sample satisfying `pred`, or -1. */
export const firstSample = (samples: SpiSample[], pred: (s: SpiSample) => boolean): number => samples.findIndex(pred);
