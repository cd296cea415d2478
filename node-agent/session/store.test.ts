import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadView, VIEW_FILE } from './store.js';

describe('the saved view', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dir = (): string => {
    const d = mkdtempSync(path.join(tmpdir(), 'freight-view-'));
    dirs.push(d);
    return d;
  };

  it('is absent when the file is missing, not JSON, or not a view', async () => {
    const d = dir();
    expect(await loadView(d)).toBeUndefined();
    writeFileSync(path.join(d, VIEW_FILE), '{"node":"n1","revis'); // torn
    expect(await loadView(d)).toBeUndefined();
    writeFileSync(path.join(d, VIEW_FILE), '{"node":"n1"}');
    expect(await loadView(d)).toBeUndefined();
  });
});
