import { createHash } from 'node:crypto';
import { ImageError } from './errors.js';

/**
 * The key id of an ASCII-armoured OpenPGP (v4) public key: the low 64 bits of its
 * fingerprint, SHA-1 over 0x99 ‖ length ‖ the public-key packet (RFC 4880 §12.2). rpm names
 * a package's signing key by it (`Key ID …` of `%{RSAHEADER:pgpsig}`), and its keyring entry
 * `gpg-pubkey-VERSION` by the low 32 bits. Pure: no gpg, no rpm.
 */
export function keyIdOf(armored: string): string {
  const body = dearmor(armored);
  const { tag, start, length } = packetAt(body, 0);
  if (tag !== 6) throw new ImageError('unknown_key', 'read public key: the first packet is not a public key');
  const pkt = body.subarray(start, start + length);
  if (pkt[0] !== 4) throw new ImageError('unknown_key', `read public key: version ${pkt[0]} keys are not supported (v4 only)`);
  const head = Buffer.from([0x99, (length >> 8) & 0xff, length & 0xff]);
  return createHash('sha1').update(head).update(pkt).digest('hex').slice(-16);
}

/** Same key? Compares ids of any length (rpm shows 8 or 16 hex digits) by their common low digits. */
export function sameKey(a: string, b: string): boolean {
  const n = Math.min(a.length, b.length);
  return n >= 8 && a.slice(-n).toLowerCase() === b.slice(-n).toLowerCase();
}

function dearmor(armored: string): Buffer {
  const m = /-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n([\s\S]*?)-----END PGP PUBLIC KEY BLOCK-----/.exec(armored);
  if (!m) throw new ImageError('unknown_key', 'read public key: no PGP PUBLIC KEY BLOCK');
  const lines = m[1].split(/\r?\n/);
  // armour headers end at the first empty line; the checksum line starts with '='
  const blank = lines.findIndex((l) => l.trim() === '');
  const data = lines
    .slice(blank >= 0 && lines.slice(0, blank).every((l) => l.includes(':')) ? blank + 1 : 0)
    .filter((l) => l.trim() && !l.startsWith('='))
    .join('');
  const buf = Buffer.from(data, 'base64');
  if (buf.length < 8) throw new ImageError('unknown_key', 'read public key: empty key block');
  return buf;
}

/** Header of the packet at `off`: old and new formats (RFC 4880 §4.2). */
function packetAt(b: Buffer, off: number): { tag: number; start: number; length: number } {
  const h = b[off];
  if (!(h & 0x80)) throw new ImageError('unknown_key', 'read public key: not an OpenPGP packet');
  let tag: number;
  let start: number;
  let length: number;
  if (h & 0x40) {
    tag = h & 0x3f;
    const l0 = b[off + 1];
    if (l0 < 192) [start, length] = [off + 2, l0];
    else if (l0 < 224) [start, length] = [off + 3, ((l0 - 192) << 8) + b[off + 2] + 192];
    else if (l0 === 255) [start, length] = [off + 6, b.readUInt32BE(off + 2)];
    else throw new ImageError('unknown_key', 'read public key: partial-length key packet');
  } else {
    tag = (h >> 2) & 0x0f;
    const lt = h & 3;
    if (lt === 0) [start, length] = [off + 2, b[off + 1]];
    else if (lt === 1) [start, length] = [off + 3, b.readUInt16BE(off + 1)];
    else if (lt === 2) [start, length] = [off + 5, b.readUInt32BE(off + 1)];
    else throw new ImageError('unknown_key', 'read public key: indeterminate-length packet');
  }
  if (start + length > b.length || length > 0xffff) throw new ImageError('unknown_key', 'read public key: truncated key packet');
  return { tag, start, length };
}
