import { z } from 'zod';

/**
 * `container exec`: what freightctl and the controller say to each other over the exec WebSocket
 * (`GET /v1/tenants/:tenant/containers/:name/exec`), and the pieces the agent stream reuses
 * (protocol/stream.ts). The command is an argv array, never a shell string: the node passes it to
 * execve inside the container as it is. Bytes travel base64 in JSON text frames.
 */

/** At most this many arguments, each at most 4096 bytes, 64 KiB in all. */
export const EXEC_LIMITS = { args: 256, argBytes: 4096, argvBytes: 64 * 1024, chunkBytes: 64 * 1024 } as const;

export const ExecArgv = z
  .array(
    z
      .string()
      .max(EXEC_LIMITS.argBytes)
      .refine((a) => !a.includes('\0'), 'an argument holds a NUL byte'),
  )
  .min(1, 'a command is needed')
  .max(EXEC_LIMITS.args)
  .refine((a) => a[0].length > 0, 'the command name is empty')
  .refine((a) => a.reduce((n, s) => n + Buffer.byteLength(s), 0) <= EXEC_LIMITS.argvBytes, 'the command is longer than 64 KiB');

const Dim = z.number().int().min(1).max(1000);
/** Terminal size of a TTY exec. */
export const ExecSize = z.object({ rows: Dim, cols: Dim });
export type ExecSize = z.infer<typeof ExecSize>;

/** Base64 of at most one chunk. */
export const ExecData = z
  .string()
  .max(Math.ceil(EXEC_LIMITS.chunkBytes / 3) * 4)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64 expected');

export const ExecStart = z.object({
  argv: ExecArgv,
  /** A pseudo-terminal inside the container (stdout and stderr are then one stream). */
  tty: z.boolean().default(false),
  size: ExecSize.optional(),
});
export type ExecStart = z.infer<typeof ExecStart>;

/** freightctl → controller: `start` first, then input. */
export const ExecClientMessage = z.discriminatedUnion('type', [
  ExecStart.extend({ type: z.literal('start') }),
  z.object({ type: z.literal('stdin'), data: ExecData }),
  z.object({ type: z.literal('eof') }),
  z.object({ type: z.literal('resize'), size: ExecSize }),
]);
export type ExecClientMessage = z.infer<typeof ExecClientMessage>;

export const ExecStream = z.enum(['stdout', 'stderr']);

/** How an exec ended: the exit code, or the signal that ended it; `error` when it never ran. */
export const ExecExit = z.object({
  code: z.number().int().min(0).max(255).nullable(),
  signal: z.string().max(32).nullable().default(null),
  error: z.object({ code: z.string().max(64), message: z.string().max(2000) }).optional(),
});
export type ExecExit = z.infer<typeof ExecExit>;

/** controller → freightctl. */
export const ExecServerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started') }),
  z.object({ type: z.literal('output'), stream: ExecStream, data: ExecData }),
  ExecExit.extend({ type: z.literal('exit') }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type ExecServerMessage = z.infer<typeof ExecServerMessage>;

/** The path of the exec WebSocket of a container. */
export const EXEC_PATH = /^\/v1\/tenants\/([^/]+)\/containers\/([^/]+)\/exec$/;
