import type { Request } from './client.js';
import type { Follow } from './stream.js';
import type { Dial } from './transport.js';

/** What a command needs: the API, where to print, and the clock. */
export interface Io {
  req: Request;
  json: boolean;
  write(text: string): void;
  now(): Date;
  /** The controller URL and the CA pin this run trusts (for join strings). */
  url?: string;
  caPin?: string;
  /** Follows a Server-Sent Events stream (freightctl events, --watch) with the run's token and trust. */
  follow?: (path: string, o: Omit<Parameters<Follow>[1], 'token'>) => Promise<void>;
  /** Diagnostics that are not the command's output (stderr). */
  writeErr?: (text: string) => void;
  /** A WebSocket to the controller with this run's trust and token (`container exec`). */
  dial?: (path: string) => ReturnType<Dial>;
}

/** Prints `data` as JSON with --json, else the human form. */
export function emit(io: Io, data: unknown, human: () => string): void {
  io.write(io.json ? JSON.stringify(data, null, 2) + '\n' : human());
}
