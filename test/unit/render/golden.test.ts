/**
 * Golden files: every file renderDevice produces for a few fixed devices, byte for byte, under
 * test/golden/render/<case>/<absolute path>, plus a MANIFEST of path, kind, mode and owner.
 * After an intended change: `UPDATE_GOLDEN=1 npx vitest run test/unit/render/golden.test.ts`, then read
 * the diff of test/golden/render by eye before keeping it.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderDevice } from '../../../agent/render/index.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState, hostsFor } from '../../builders/desired.ts';

const GOLDEN = fileURLToPath(new URL('../../golden/render/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** The fixed devices: each tier's shape, with and without SSH over Tor, shared and empty devices. */
const CASES: Record<string, DesiredState> = {
  standard: desiredState({ tier: 'standard' }),
  'elevated-ssh': desiredState({ tier: 'elevated', clientAuth: ['alice'] }),
  'elevated-no-ssh': desiredState({ tier: 'elevated', overTor: false }),
  'extreme-ssh': desiredState({ tier: 'extreme', clientAuth: ['alice', 'bob'] }),
  'mixed-tiers': desiredState({
    groups: [{ id: 'family', tier: 'standard', smp: 1, xftp: 0 }, { id: 'ngo', tier: 'high', smp: 2, xftp: 1 }],
    clientAuth: ['carol'],
  }),
  'ssh-only': desiredState({ instances: [], overTor: true }),
  empty: desiredState({ instances: [], overTor: false }),
};

/** Relative golden path → expected content, for one case. */
function expected(desired: DesiredState): Map<string, string> {
  const files = renderDevice(desired, hostsFor(desired));
  const manifest = files.map((f) => `0${f.mode.toString(8)} ${f.kind} ${f.owner ?? 'root'} ${f.path}`).join('\n');
  return new Map([['MANIFEST', `${manifest}\n`], ...files.map((f): [string, string] => [f.path.slice(1), f.content])]);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

describe.each(Object.entries(CASES))('golden files of "%s"', (name, desired) => {
  const dir = join(GOLDEN, name);

  it('match the rendering byte for byte, with no file missing or extra', async () => {
    const want = expected(desired);
    if (UPDATE) {
      await rm(dir, { recursive: true, force: true });
      for (const [path, content] of want) {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await writeFile(join(dir, path), content);
      }
    }
    expect(await listFiles(dir), `golden files of ${name} (UPDATE_GOLDEN=1 rewrites them)`).toEqual([...want.keys()].sort());
    for (const [path, content] of want) {
      expect(content, `${name}/${path}`).toBe(await readFile(join(dir, path), 'utf8'));
    }
  });
});
