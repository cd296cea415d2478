/**
 * nftables through `nft -f FILE`: nft text rendered from the JSON commands by nft-text.ts, or
 * the JSON itself with `-j` (a temp file: Node's stdin to nft is a socketpair, which nft cannot
 * read). A batch is atomic: a failing one leaves the previous ruleset intact. Tables are named
 * `freight` (bridge: anti-spoofing; inet: ipsec guard and security groups; rulesets in
 * nft-rules.ts and nft-sg.ts, planning in dataplane/nft-table.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NftError } from './errors.js';
import { NFT_TABLE } from '../names.js';
import { nftText } from './nft-text.js';
import type { NftCommand, NftFamily } from './nft-types.js';

export type { NftChainDef, NftCommand, NftFamily, NftRule, NftSetDef, NftTable } from './nft-types.js';

export { NFT_TABLE };

function nft(args: string[], op: string, target: string): string {
  const r = spawnSync('nft', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new NftError(op, target, r.error.message);
  if (r.status !== 0) throw new NftError(op, target, `exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Applies a list of nft JSON commands atomically: as nft text when nft-text.ts can render every
 * command (loads about twice as fast; a planner may pass the same batch's text, e.g. a table in
 * block syntax), else, or if nft refuses the text, as JSON.
 */
export function nftApply(batch: NftCommand[] | (() => NftCommand[]), target = `table ${NFT_TABLE}`, given?: string): void {
  // a batch given as a function is built only if its text is missing or refused
  let built: NftCommand[] | undefined;
  const commands = () => (built ??= typeof batch === 'function' ? batch() : batch);
  const text = given ?? nftText(commands());
  const dir = mkdtempSync(join(tmpdir(), 'freight-nft-'));
  try {
    if (text !== undefined) {
      const file = join(dir, 'ruleset.nft');
      writeFileSync(file, text, { mode: 0o600 });
      try {
        return void nft(['-f', file], 'apply nft', target);
      } catch {
        // the batch is atomic: nothing of it was applied; the JSON says the same in nft's other parser
      }
    }
    const file = join(dir, 'ruleset.json');
    writeFileSync(file, JSON.stringify({ nftables: commands() }), { mode: 0o600 });
    nft(['-j', '-f', file], 'apply nft', target);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Lists a table as nft JSON objects; [] when the table does not exist. */
export function nftList(family: NftFamily, table = NFT_TABLE): NftCommand[] {
  const r = spawnSync('nft', ['-j', 'list', 'table', family, table], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) {
    if (/No such file or directory/.test(r.stderr)) return [];
    throw new NftError('list nft', `table ${family} ${table}`, `exit ${r.status}: ${r.stderr.trim()}`);
  }
  return (JSON.parse(r.stdout) as { nftables: NftCommand[] }).nftables.filter((o) => !('metainfo' in o));
}
