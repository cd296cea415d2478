import type { Request } from './client.js';

/** What a command needs: the API, where to print, and the clock. */
export interface Io {
  req: Request;
  json: boolean;
  write(text: string): void;
  now(): Date;
  /** The controller URL and the CA pin this run trusts (for join strings). */
  url?: string;
  caPin?: string;
}

/** Prints `data` as JSON with --json, else the human form. */
export function emit(io: Io, data: unknown, human: () => string): void {
  io.write(io.json ? JSON.stringify(data, null, 2) + '\n' : human());
}
