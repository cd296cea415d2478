#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliError, client } from './client.js';
import { dialer, pinOf, sender, trustOf, type Dial } from './transport.js';
import { CommandExit } from './exec.js';
import type { Io } from './output.js';
import { auditCommand, nodeCommands, statusCommand, tenantCommands, tokenCommands } from './admin.js';
import { endpointsCommand, networkCommands } from './tenant-objects.js';
import { routerCommands } from './routers.js';
import { securityGroupCommands } from './security-groups.js';
import { containerCommands } from './containers.js';
import { imageCommands, upgradeCommand } from './images.js';
import { eventsCommand } from './events.js';
import { follower, type Follow } from './stream.js';
import { componentCommands, packageRepoCommands } from './components.js';

/** Builds the freightctl program; `write`/`writeErr` and `env` are injected for tests. */
export function buildCli(env: NodeJS.ProcessEnv, write: (s: string) => void, writeErr: (s: string) => void): Command {
  const program = new Command('freightctl')
    .description('Freight controller client')
    .option('--url <url>', 'controller URL (env FREIGHT_URL)', env.FREIGHT_URL ?? 'https://127.0.0.1:7400')
    .option('--token <token>', 'API token (env FREIGHT_TOKEN)') // no default: help must not print the secret
    .option('--ca <file>', "CA certificate to verify the controller against (env FREIGHT_CA; the controller's STATE_DIR/tls/ca.crt)")
    .option('--ca-fingerprint <sha256>', 'pin of the controller CA instead of --ca (env FREIGHT_CA_FINGERPRINT)')
    .option('--insecure', 'allow a plaintext http:// controller (env FREIGHT_INSECURE=1)')
    .option('--json', 'print JSON for scripts')
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr });
  // one trust resolution (and pin handshake) per run
  let conn: { req: Io['req']; pin?: string; follow: Follow; dial: Dial; token?: string } | undefined;
  const io = (): Io => {
    const o = program.opts<{ url: string; token?: string; json?: boolean; ca?: string; caFingerprint?: string; insecure?: boolean }>();
    if (!conn) {
      const trust = trustOf(o.url, {
        ca: o.ca ?? env.FREIGHT_CA,
        caFingerprint: o.caFingerprint ?? env.FREIGHT_CA_FINGERPRINT,
        insecure: o.insecure ?? env.FREIGHT_INSECURE === '1',
      });
      const token = o.token ?? env.FREIGHT_TOKEN;
      conn = {
        req: client({ url: o.url, token }, sender(o.url, trust)),
        pin: pinOf(trust),
        follow: follower(o.url, trust),
        dial: dialer(o.url, trust),
        token,
      };
    }
    const c = conn;
    return {
      req: c.req,
      json: Boolean(o.json),
      write,
      writeErr,
      now: () => new Date(),
      url: o.url,
      caPin: c.pin,
      follow: (path, f) => c.follow(path, { ...f, token: c.token }),
      dial: (path) => c.dial(path, c.token),
    };
  };
  tenantCommands(program, io);
  tokenCommands(program, io);
  networkCommands(program, io);
  routerCommands(program, io);
  nodeCommands(program, io);
  containerCommands(program, io);
  securityGroupCommands(program, io);
  upgradeCommand(program, io);
  componentCommands(program, io);
  imageCommands(program, io);
  packageRepoCommands(program, io);
  endpointsCommand(program, io);
  statusCommand(program, io);
  auditCommand(program, io);
  eventsCommand(program, io);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: write, writeErr });
  return program;
}

/** Runs freightctl; resolves with the exit status (0 ok, 1 API error, 2 usage, 3 unreachable). */
export async function run(
  argv: string[],
  env: NodeJS.ProcessEnv,
  write: (s: string) => void,
  writeErr: (s: string) => void,
): Promise<number> {
  try {
    await buildCli(env, write, writeErr).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CommandExit) return err.status; // `container exec`: the command's own exit status
    if (err instanceof CliError) {
      writeErr(`freightctl: ${err.code}: ${err.message}\n`);
      return err.exitCode;
    }
    writeErr(`freightctl: ${(err as Error).message}\n`);
    return 1;
  }
}

const isMain = process.argv[1] && /freightctl$|cli[/\\]main\.(js|ts)$/.test(process.argv[1]);
if (isMain) {
  void run(
    process.argv.slice(2),
    process.env,
    (s) => process.stdout.write(s),
    (s) => process.stderr.write(s),
  ).then((code) => {
    process.exitCode = code;
  });
}
