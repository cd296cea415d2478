import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { InfraConfig } from '../protocol/infra-config.js';
import { loadConfig } from './config.js';

export interface WatchOptions {
  file: string;
  /** The text last applied, so an unchanged rewrite is not reloaded. */
  initialText: string;
  onConfig: (config: InfraConfig) => void;
  log: Logger;
  debounceMs?: number;
  pollMs?: number;
}

/**
 * Watches the directory (the agent replaces the file by rename, which a
 * watch on the file itself would miss) plus a poll as a fallback for
 * filesystems without events. Changes are debounced; an invalid file is
 * logged and the running config kept.
 */
export function watchConfig(opts: WatchOptions): { close(): void; check(): Promise<void> } {
  const debounceMs = opts.debounceMs ?? 50;
  const base = path.basename(opts.file);
  let lastText = opts.initialText;
  let lastStamp = '';
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  const check = (): Promise<void> => {
    running = running.then(async () => {
      if (closed) return;
      try {
        const { config, text } = await loadConfig(opts.file);
        if (text === lastText) return;
        lastText = text;
        opts.onConfig(config);
        opts.log.info({ revision: config.revision, bindings: config.bindings.length }, 'infra config reloaded');
      } catch (e) {
        opts.log.error({ err: e }, 'infra config rejected, keeping the running one');
      }
    });
    return running;
  };
  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void check();
    }, debounceMs);
  };

  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(path.dirname(opts.file), (_event, name) => {
      if (!name || name === base) schedule();
    });
    watcher.on('error', (err) => opts.log.warn({ err }, 'config watch failed, polling only'));
  } catch (e) {
    opts.log.warn({ err: e }, 'config watch unavailable, polling only');
  }
  const poll = setInterval(() => {
    stat(opts.file).then(
      (s) => {
        const stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
        if (stamp !== lastStamp) {
          lastStamp = stamp;
          schedule();
        }
      },
      () => undefined,
    );
  }, opts.pollMs ?? 1000);
  poll.unref();

  return {
    check,
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
      clearInterval(poll);
      watcher?.close();
    },
  };
}
