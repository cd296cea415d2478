/**
 * The join string `freightctl token create --node NAME` prints and `freight-agent --join`
 * reads: the controller URL, the node token and the SHA-256 fingerprint of the controller's
 * CA certificate (the agent trusts exactly that CA, like kubeadm's
 * `--discovery-token-ca-cert-hash`). `frj1.` + base64url(JSON).
 */
import { z } from 'zod';

export const FINGERPRINT_RE = /^sha256:[0-9a-f]{64}$/;

/** `sha256:<hex>`, also accepting `AB:CD:…` (openssl, node) and bare hex. */
export function normalizeFingerprint(v: string): string {
  const hex = v
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '')
    .replace(/:/g, '');
  const fp = `sha256:${hex}`;
  if (!FINGERPRINT_RE.test(fp)) throw new Error(`CA fingerprint ${v}: expected sha256:<64 hex digits>`);
  return fp;
}

export const Join = z.object({
  url: z
    .string()
    .url()
    .refine((u) => /^(https|http):\/\//.test(u), 'an http(s) URL'),
  token: z.string().min(1).max(512),
  /** Absent only for a plaintext (`--insecure`) controller or one whose certificate a public CA signed. */
  ca: z.string().regex(FINGERPRINT_RE).optional(),
});
export type Join = z.infer<typeof Join>;

const PREFIX = 'frj1.';

export function encodeJoin(j: Join): string {
  return PREFIX + Buffer.from(JSON.stringify(Join.parse(j))).toString('base64url');
}

export function decodeJoin(s: string): Join {
  const text = s.trim();
  if (!text.startsWith(PREFIX)) throw new Error('join string: expected frj1.… (freightctl token create --node NAME)');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new Error('join string: not decodable (copied incompletely?)');
  }
  const r = Join.safeParse(raw);
  if (!r.success) throw new Error(`join string: ${r.error.issues[0]?.path.join('.') || 'value'}: ${r.error.issues[0]?.message}`);
  return r.data;
}
