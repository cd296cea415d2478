import { Command } from 'commander';
import { pathToFileURL } from 'node:url';
import { importImage, listImages } from './images.js';
import { DEFAULT_STATE_DIR } from './paths.js';

/**
 * `image import NAME DIR|TARBALL` and `image list`: the agent main mounts this with
 * `program.addCommand(imageCommand())`, which makes `freight-agent image import …`.
 */
export function imageCommand(): Command {
  const image = new Command('image').description('manage container images (root filesystems)');
  image
    .command('import')
    .description('import a root filesystem from a directory or a tarball as image NAME')
    .argument('<name>', 'image name')
    .argument('<source>', 'directory or tarball (.tar, .tar.gz, .tar.xz, .tar.zst)')
    .option('--state-dir <dir>', 'agent state directory', process.env.FREIGHT_STATE_DIR ?? DEFAULT_STATE_DIR)
    .option('--sanitize', 'remove device nodes and sockets, clear setuid/setgid bits (OS trees) instead of refusing them')
    .action(async (name: string, source: string, opts: { stateDir: string; sanitize?: boolean }) => {
      const dir = await importImage(opts.stateDir, name, source, { sanitize: opts.sanitize });
      process.stdout.write(`imported image ${name} into ${dir}\n`);
    });
  image
    .command('list')
    .description('list images')
    .option('--state-dir <dir>', 'agent state directory', process.env.FREIGHT_STATE_DIR ?? DEFAULT_STATE_DIR)
    .action(async (opts: { stateDir: string }) => {
      for (const n of await listImages(opts.stateDir)) process.stdout.write(`${n}\n`);
    });
  return image;
}

// Standalone: `tsx node-agent/runtime/image-cli.ts import NAME SOURCE`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  imageCommand()
    .name('freight-agent image')
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    });
}
