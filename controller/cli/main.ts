#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliError, client } from './client.js';
import { dialer, pinOf, sender, trustOf, type Dial } from './transport.js';
import { CommandExit } from './exec.js';
import { auditCommand, nodeCommands, statusCommand, tenantCommands, tokenCommands } from './admin.js';
import { endpointsCommand, networkCommands } from './tenant-objects.js';
import { routerCommands } from './routers.js';
import { securityGroupCommands } from './security-groups.js';
import { floatingIpCommands } from './floating-ips.js';
import { containerCommands } from './containers.js';
import { imageCommands, upgradeCommand } from './images.js';
import { eventsCommand } from './events.js';
import { follower, type Follow } from './stream.js';
import { componentCommands, packageRepoCommands } from './components.js';
import { EXIT } from './exit.js';
import { parseColumns, parseFormat, type Format, type Io } from './output.js';
import { controllerUrl } from './url.js';
import { completionCommand } from './completion.js';
import { finishTree, outputOf, PROGRAM_HELP, VERSION } from './help.js';

/** Builds the freightctl program; `write`/`writeErr` and `env` are injected for tests. */
export function buildCli(
  env: NodeJS.ProcessEnv,
  write: (s: string) => void,
  writeErr: (s: string) => void,
  /** Usage errors are printed by run() as JSON (`-o json`), not by commander. */
  quietUsage = false,
): Command {
  const program = new Command('freightctl')
    .description('Freight controller client: tenants, networks, containers, routers, nodes and tokens of a Freight controller')
    .option('--url <url>', 'controller URL, https://HOST:PORT (env FREIGHT_URL)', env.FREIGHT_URL ?? 'https://127.0.0.1:7400')
    .option('--token <token>', 'API token (env FREIGHT_TOKEN)') // no default: help must not print the secret
    .option('--ca <file>', "CA certificate to verify the controller against (env FREIGHT_CA; the controller's STATE_DIR/tls/ca.crt)")
    .option('--ca-fingerprint <sha256>', 'pin of the controller CA instead of --ca (env FREIGHT_CA_FINGERPRINT)')
    .option('--insecure', 'allow a plaintext http:// controller (env FREIGHT_INSECURE=1)')
    .option('-o, --output <format>', 'table (default) | wide | json | yaml | name | custom-columns=HEADER:.field,…', parseFormat)
    .option(
      '--columns <list>',
      'the columns to print, comma separated: headers of the table (name,cidr) or fields (.params.port)',
      parseColumns,
    )
    .option('--json', 'the same as -o json (errors too: JSON on stderr)')
    .addHelpText('after', PROGRAM_HELP)
    .exitOverride()
    .configureOutput(outputOf(write, writeErr, quietUsage));
  // one trust resolution (and pin handshake) per run
  let conn: { req: Io['req']; pin?: string; follow: Follow; dial: Dial; token?: string; url: string } | undefined;
  const io = (): Io => {
    const o = program.opts<GlobalOptions>();
    if (!conn) {
      const url = controllerUrl(o.url);
      const trust = trustOf(url, {
        ca: o.ca ?? env.FREIGHT_CA,
        caFingerprint: o.caFingerprint ?? env.FREIGHT_CA_FINGERPRINT,
        insecure: o.insecure ?? env.FREIGHT_INSECURE === '1',
      });
      const token = o.token ?? env.FREIGHT_TOKEN;
      conn = {
        req: client({ url, token }, sender(url, trust)),
        pin: pinOf(trust),
        follow: follower(url, trust),
        dial: dialer(url, trust),
        token,
        url,
      };
    }
    const c = conn;
    const format = o.json ? ({ kind: 'json' } as const) : o.output;
    return {
      req: c.req,
      json: format?.kind === 'json',
      format,
      columns: o.columns,
      write,
      writeErr,
      now: () => new Date(),
      url: c.url,
      caPin: c.pin,
      follow: (path, f) => c.follow(path, { ...f, token: c.token }),
      dial: (path) => c.dial(path, c.token),
    };
  };
  // one line per command group: other command files register here the same way
  tenantCommands(program, io);
  tokenCommands(program, io);
  networkCommands(program, io);
  routerCommands(program, io);
  floatingIpCommands(program, io);
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
  completionCommand(program, write);
  finishTree(program);
  return program;
}

interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
  output?: Format;
  columns?: string[];
  ca?: string;
  caFingerprint?: string;
  insecure?: boolean;
}

/** Runs freightctl; resolves with the exit status (controller/cli/exit.ts; `container exec`: the command's own). */
export async function run(
  argv: string[],
  env: NodeJS.ProcessEnv,
  write: (s: string) => void,
  writeErr: (s: string) => void,
): Promise<number> {
  const jsonErrors = wantsJson(argv);
  const fail = (code: string, message: string, path?: string) =>
    writeErr(
      jsonErrors ? JSON.stringify({ error: { code, message, ...(path ? { path } : {}) } }) + '\n' : `freightctl: ${code}: ${message}\n`,
    );
  // only as the first argument: a global --version option would take `image build --version 1` too
  if (argv[0] === '--version' || argv[0] === '-V') {
    write(`${VERSION}\n`);
    return EXIT.ok;
  }
  try {
    await buildCli(env, write, writeErr, jsonErrors).parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok; // --help
      if (jsonErrors) fail('usage', err.message.replace(/^error: /, ''));
      else if (err.code === 'commander.unknownOption' && hasCommandArgs(argv))
        writeErr(
          "freightctl: the container's command goes after --, e.g. container run acme/a --network web --image busybox -- sh -c 'echo hi'\n",
        );
      return EXIT.usage;
    }
    if (err instanceof CommandExit) return err.status; // `container exec`: the command's own exit status
    if (err instanceof CliError) {
      fail(err.code, err.message, err.path);
      return err.exitCode;
    }
    fail('error', (err as Error).message);
    return EXIT.api;
  }
}

/** `-o json`/`--json` anywhere on the line: errors (usage ones too) are printed as JSON. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  const args = end < 0 ? argv : argv.slice(0, end);
  return args.some(
    (a, i) => a === '--json' || a === '-ojson' || a === '--output=json' || ((a === '-o' || a === '--output') && args[i + 1] === 'json'),
  );
}

/** `container run|exec` given the container's command without `--`. */
const hasCommandArgs = (argv: string[]) => argv[0] === 'container' && (argv[1] === 'run' || argv[1] === 'exec') && !argv.includes('--');

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
