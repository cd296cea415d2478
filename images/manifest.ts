import { z } from 'zod';
import { NAME_RE, VERSION_RE } from './ref.js';
import { ImageError } from './errors.js';

/**
 * What a container needs besides files, shipped as `manifest.json` next to the
 * image's `rootfs/` inside the RPM (so the signature covers it).
 */
export const Manifest = z
  .object({
    name: z.string().regex(NAME_RE),
    version: z.string().regex(VERSION_RE),
    /** Default command when the container gives none. */
    command: z.array(z.string()).default([]),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
    ports: z.array(z.object({ port: z.number().int().min(1).max(65535), protocol: z.enum(['tcp', 'udp']).default('tcp') })).default([]),
    /** A derivative image: its rootfs holds only what it overrides, layered over this exact base version. */
    base: z.object({ name: z.string().regex(NAME_RE), version: z.string().regex(VERSION_RE) }).optional(),
  })
  .strict();
export type Manifest = z.infer<typeof Manifest>;
export type ManifestInput = z.input<typeof Manifest>;

export function parseManifest(json: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ImageError('invalid_manifest', `read manifest ${where}: ${(e as Error).message}`, { cause: e });
  }
  const r = Manifest.safeParse(raw);
  if (!r.success)
    throw new ImageError(
      'invalid_manifest',
      `read manifest ${where}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}
