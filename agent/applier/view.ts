/**
 * The status view ({@link VIEW_DIR}): after every request the applier copies the files the agent's
 * status reads — the record, the desired state worked towards, the onion hostnames, the instances'
 * fingerprints and certificates, the servers' metrics files — below the view, at the paths they have below the device root. The
 * unprivileged agent builds its status with the view as its root (agent/status/report.ts unchanged).
 *
 * Directories 0750 and files 0640, owned by root with the group `onionfleet` on a Pi: the agent reads
 * them, cannot change them, and root never writes through a path the agent could have replaced.
 * Nothing the agent could not already learn is copied: it decrypts the desired state itself, and the
 * hostnames and fingerprints go out in its status.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readFile, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { ResolvedConfig } from '../config.ts';
import { DESIRED_COPY } from '../reconcile/loop.ts';
import { metricsFilePath } from '../metrics/collector.ts';
import { PATHS } from '../render/paths.ts';
import { SSH_ONION } from '../render/torrc.ts';
import { VIEW_DIR } from './protocol.ts';

const run = promisify(execFile);

/** The group that may read the view (install-agent.sh makes it). */
export const AGENT_GROUP = 'onionfleet';

/** The root the agent's status reads from when an applier does the privileged work. */
export function viewRoot(root: string): string {
  return join(root, VIEW_DIR);
}

/** Copies the status's files into the view; a file that does not exist (yet) is left out. */
export async function publishView(config: ResolvedConfig): Promise<void> {
  const root = config.root;
  const view = viewRoot(root);
  const gid = config.system === 'host' ? Number((await run('id', ['-g', AGENT_GROUP])).stdout.trim()) : null;
  const made = new Set<string>();
  const ensureDir = async (dir: string): Promise<void> => {
    if (made.has(dir) || dir.length <= view.length) return;
    await ensureDir(dirname(dir));
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o750); // explicitly: the unit's UMask=0077 narrows mkdir's mode
    if (gid !== null) await chown(dir, 0, gid);
    made.add(dir);
  };
  await mkdir(view, { recursive: true });
  await chmod(view, 0o750);
  if (gid !== null) await chown(view, 0, gid);

  const desired = DesiredState.safeParse(JSON.parse(await readFile(join(root, DESIRED_COPY), 'utf8').catch(() => 'null')));
  const files = [PATHS.agentState, DESIRED_COPY];
  if (desired.success) {
    for (const i of desired.data.instances) {
      const cfg = PATHS.configDir(i.kind, i.id);
      files.push(`${PATHS.onionDir(i.id)}/hostname`, `${cfg}/fingerprint`, `${cfg}/ca.crt`);
      // The servers' metrics files (agent/metrics/collector.ts reads them from the view).
      if (!i.hardening.noStatistics) files.push(metricsFilePath(i));
    }
    if (desired.data.ssh.overTor) files.push(`${PATHS.onionDir(SSH_ONION.name)}/hostname`);
  }
  for (const file of files) {
    const from = join(root, file);
    const to = join(view, file);
    await ensureDir(dirname(to));
    let content: Buffer;
    try {
      content = await readFile(from);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    // Most rounds change nothing: an unchanged copy is not written again (no fsync on a Pi's SD card).
    if (await sameCopy(to, content, gid)) continue;
    // The agent reads the view only between requests (it waits for each answer): the moment between
    // the rename and the chown is never seen.
    await writeFileAtomic(to, content, { mode: 0o640 });
    if (gid !== null) await chown(to, 0, gid);
    // The copy keeps the original's time: the metrics' file age is the server's, not the copy's.
    const original = await stat(from).catch(() => null);
    if (original !== null) await utimes(to, original.atime, original.mtime);
  }
}

/** True when `path` already holds `content`, mode 0640, with the group `gid` (when one is given). */
async function sameCopy(path: string, content: Buffer, gid: number | null): Promise<boolean> {
  try {
    const info = await stat(path);
    if ((info.mode & 0o777) !== 0o640 || (gid !== null && (info.uid !== 0 || info.gid !== gid)) || info.size !== content.length) return false;
    return (await readFile(path)).equals(content);
  } catch {
    return false;
  }
}
