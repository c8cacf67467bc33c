/**
 * The boot hold on disk (see plan.ts): `onionfleet-agent hold` (root, before tor, deploy/onionfleet-hold.service)
 * leaves the held instances' onion services out of tor's fragment and puts one empty file per held
 * instance in {@link PATHS.heldDir} (a tmpfs: gone at the next boot), where the instance's systemd unit
 * looks before it starts (`ConditionPathExists=!…`). `held.json` beside them says what was held, with
 * each instance's limit; it stays (with what is still held) once the hold ran, so a second run in the
 * same boot holds nothing again. Releasing removes the files; the reconcile that follows puts the onion
 * services back and starts the units.
 */
import { chmod, chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { DesiredState, InstanceId, InstanceKind } from '#shared/schema/desired-state.ts';
import { DESIRED_COPY } from '../reconcile/loop.ts';
import { readRecord, writeRecord } from '../record.ts';
import { PATHS } from '../render/paths.ts';
import { fragmentWithout, instancesToHold, type HeldInstance } from './plan.ts';

export const HELD_SUMMARY = 'held.json';

const HeldSummary = z.strictObject({
  /** What the hold held at boot. */
  held: z.array(z.strictObject({ id: InstanceId, kind: InstanceKind, holdAtBootSeconds: z.int().min(0).nullable() })),
  /** What was released since, and why. */
  released: z.array(z.strictObject({ id: InstanceId, by: z.enum(['controller', 'uptime', 'operator']) })),
});
type HeldSummary = z.infer<typeof HeldSummary>;

const heldDir = (root: string) => join(root, PATHS.heldDir);
const summaryPath = (root: string) => join(heldDir(root), HELD_SUMMARY);

async function readSummary(root: string): Promise<HeldSummary | null> {
  return loadJson(summaryPath(root), HeldSummary, 'the boot hold\'s summary').catch(() => null);
}

async function writeSummary(root: string, summary: HeldSummary): Promise<void> {
  await writeFileAtomic(summaryPath(root), `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o644 });
}

/** The instances held now: those of held.json whose file is still there. */
export async function heldNow(root: string): Promise<HeldInstance[]> {
  const summary = await readSummary(root);
  if (summary === null) return [];
  const still: HeldInstance[] = [];
  for (const h of summary.held) if (await exists(join(heldDir(root), h.id))) still.push(h);
  return still;
}

export interface HoldResult {
  /** What is held (all of it held by this run, or by an earlier run of this boot: `already`). */
  readonly held: HeldInstance[];
  readonly already: boolean;
  /** Whether tor's fragment was rewritten. */
  readonly fragmentChanged: boolean;
}

/**
 * Holds back, from the last applied desired state, every instance whose group allows identity
 * copies. Nothing to hold without one (a fresh install). Once per boot: a second run changes nothing.
 */
export async function holdAtBoot(root: string): Promise<HoldResult> {
  if ((await readSummary(root)) !== null) return { held: await heldNow(root), already: true, fragmentChanged: false };
  const desired = await loadJson(join(root, DESIRED_COPY), DesiredState, 'the last applied desired state').catch(() => null);
  const held = desired === null ? [] : instancesToHold(desired);
  await mkdir(heldDir(root), { recursive: true, mode: 0o755 });
  await chmod(heldDir(root), 0o755); // the agent (another user) reads held.json: under UMask=0077 too
  // The files first: should tor's fragment be rewritten and the summary not (a crash), the next run does it all again.
  for (const h of held) await writeFileAtomic(join(heldDir(root), h.id), '', { mode: 0o644 });
  const fragmentChanged = held.length > 0 && (await rewriteFragment(root, held.map((h) => h.id)));
  // The record's tor hash is of the fragment as the reconcile wrote it: forgotten, so the reconcile
  // that releases them reloads tor once it has put the onions back.
  if (fragmentChanged) await writeRecord(root, { ...(await readRecord(root)), tor: null });
  await writeSummary(root, { held, released: [] });
  return { held, already: false, fragmentChanged };
}

/** tor's fragment without the held onion services, with the old file's mode and owner; false when unchanged or absent. */
async function rewriteFragment(root: string, ids: readonly string[]): Promise<boolean> {
  const path = join(root, PATHS.torrcFragment);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const without = fragmentWithout(text, ids);
  if (without === text) return false;
  const before = await stat(path);
  await writeFileAtomic(path, without, { mode: before.mode & 0o777 });
  if (process.getuid?.() === 0) await chown(path, before.uid, before.gid);
  return true;
}

/**
 * Releases `ids` (`all`: everything held): their files go, held.json says why. Resolves with the ids
 * released. The caller then reconciles, which puts their onion services back and starts them.
 */
export async function releaseHeld(root: string, ids: readonly string[] | 'all', by: 'controller' | 'uptime' | 'operator'): Promise<string[]> {
  const summary = await readSummary(root);
  if (summary === null) return [];
  const now = await heldNow(root);
  const released = now.filter((h) => ids === 'all' || ids.includes(h.id)).map((h) => h.id);
  if (released.length === 0) return [];
  for (const id of released) await rm(join(heldDir(root), id), { force: true });
  await writeSummary(root, { held: summary.held, released: [...summary.released, ...released.map((id) => ({ id, by }))] });
  return released;
}

/** Seconds since boot (/proc/uptime): unlike a Pi's wall clock, it is right after a boot. */
export async function uptimeSeconds(): Promise<number> {
  const text = await readFile('/proc/uptime', 'utf8');
  const seconds = Number(text.split(' ')[0]);
  if (!Number.isFinite(seconds)) throw new Error(`/proc/uptime: unexpected content "${text.slice(0, 40)}"`);
  return seconds;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
