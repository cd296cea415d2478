import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, OutputConfiguration } from 'commander';
import { CliError } from './client.js';
import { EXIT } from './exit.js';

/** The package's version: package.json above this file (controller/cli/ in the tree, dist/controller/cli/ when built). */
export const VERSION = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'freight' && pkg.version) return pkg.version;
    } catch {
      // not here: one level up
    }
  }
  return 'unknown';
})();

export const PROGRAM_HELP = `
freightctl --version (or -V) prints the freightctl version.

Output (-o):
  table    aligned columns (the default); wide: every column
  json     the API's objects; errors too, as {"error": {code, message, path}} on stderr
  yaml     the same objects as YAML
  name     one TENANT/NAME (or NAME) per line, as the commands take them
  custom-columns=HEADER:.field,…   chosen fields; --columns a,b picks the table's columns

Exit statuses:
  0 ok   1 the API refused (or a local step failed)   2 usage: a wrong command line
  3 not found (HTTP 404)   4 conflict (HTTP 409)   5 the controller is unreachable or not trusted
  container exec exits with the command's own status.

A container's command goes after --, so that its options are not freightctl's:
  freightctl container run acme/a --network web --image busybox -- sh -c 'echo hi'

Examples:
  export FREIGHT_URL=https://10.0.0.5:7400 FREIGHT_CA=ca.crt FREIGHT_TOKEN=$(cat admin-token)
  freightctl tenant create acme
  freightctl network create acme/web --cidr 10.10.0.0/24 --label tier=front
  freightctl container run acme/a --network web --image busybox -- sleep 3600
  freightctl container list acme -l tier=front -o wide
  freightctl network show acme/web -o yaml
  source <(freightctl completion bash)
`;

/** Help on stdout, errors on stderr; usage errors left to run() when it prints them as JSON. */
export function outputOf(write: (s: string) => void, writeErr: (s: string) => void, quietUsage: boolean): OutputConfiguration {
  return { writeOut: write, writeErr, outputError: (s, w) => (quietUsage ? undefined : w(s)) };
}

/**
 * After every command is registered: a group given no subcommand prints its help on stdout and
 * exits 0 (like bare `freightctl`), an unknown subcommand is a usage error naming the choices.
 */
export function finishTree(cmd: Command): void {
  for (const c of cmd.commands) finishTree(c);
  if (cmd.commands.length === 0 || hasAction(cmd)) return;
  cmd
    .argument('[command]')
    .usage('[options] [command]')
    .action((sub?: string) => {
      if (sub === undefined) return cmd.outputHelp(); // stdout (writeOut), with the command's examples
      const names = cmd.commands.map((c) => c.name());
      throw new CliError('usage', `unknown command ${fullName(cmd)} ${sub}; one of: ${names.join(', ')}`, EXIT.usage);
    });
}

const hasAction = (c: Command) => Boolean((c as unknown as { _actionHandler?: unknown })._actionHandler);

export function fullName(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}
