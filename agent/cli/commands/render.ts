import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { ensureOnionDir, ONION_DIR_FILES } from '../../onion/onion-dir.ts';
import { renderDevice, type RenderedFile } from '../../render/index.ts';
import { PATHS } from '../../render/paths.ts';
import { loadDesired } from './shared.ts';

const Flags = z.object({ desired: z.string().min(1), root: z.string().min(1), json: z.boolean().default(false) });

/**
 * `onionfleet-agent render --desired FILE --root DIR [--json]`: writes every file the agent would
 * manage at its real path below DIR — including the onion keys, made here as on the device, so the
 * rendered configuration names the real hostnames — and lists them. Starts nothing.
 */
export async function renderCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const root = resolve(flags.root);
  const desired = await loadDesired(flags.desired);
  const hosts = new Map<string, string>();
  const listed: { path: string; kind: RenderedFile['kind']; mode: number }[] = [];
  for (const name of [...desired.instances.map((i) => i.id), ...(desired.ssh.overTor ? ['ssh'] : [])]) {
    const dir = PATHS.onionDir(name);
    hosts.set(name, (await ensureOnionDir(join(root, dir))).hostname);
    for (const file of Object.values(ONION_DIR_FILES)) listed.push({ path: `${dir}/${file}`, kind: 'other', mode: 0o600 });
  }
  for (const file of renderDevice(desired, hosts)) {
    await mkdir(dirname(join(root, file.path)), { recursive: true });
    await writeFileAtomic(join(root, file.path), file.content, { mode: file.mode });
    listed.push({ path: file.path, kind: file.kind, mode: file.mode });
  }
  listed.sort((a, b) => (a.path < b.path ? -1 : 1));
  const mode = (m: number) => `0${m.toString(8)}`;
  ctx.output.out(
    flags.json
      ? toJson(listed.map((f) => ({ path: f.path, kind: f.kind, mode: mode(f.mode) })))
      : `rendered ${listed.length} files for ${desired.device} below ${root}:\n${table([['mode', 'kind', 'path'], ...listed.map((f) => [mode(f.mode), f.kind, f.path])])}`,
  );
}
