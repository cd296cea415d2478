import type { ExecExit, ExecSize } from '../../protocol/exec.js';

/** Where one exec's events go (the client's WebSocket, controller/api/exec.ts). Data stays base64. */
export interface ExecRelaySink {
  started(): void;
  output(stream: 'stdout' | 'stderr', data: string): void;
  exit(e: ExecExit): void;
}

/** The controller's handle of an exec running on a node. */
export interface ExecHandle {
  input(data?: string, eof?: boolean): void;
  resize(size: ExecSize): void;
  kill(): void;
}
