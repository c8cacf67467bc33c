/**
 * The rollout in progress, kept in the controller's state directory (`rollout.json`, written
 * atomically, mode 0600), so a rollout survives the controller being killed, the laptop closing and
 * `serve` stopping: `onionfleet rollout resume` continues from the wave it was on.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { parseJsonText } from '#shared/fs/load-json.ts';
import { Tier } from '#shared/schema/fleet-spec.ts';
import { STRATEGIES } from './waves.ts';

export const ROLLOUT_FILE = 'rollout.json';

export const WaveRecord = z.object({
  devices: z.array(z.string()),
  canary: z.boolean(),
  soakSeconds: z.number().min(0),
  groups: z.array(z.string()),
  state: z.enum(['pending', 'published', 'promoted', 'failed']),
  /** Device → the desired revision this wave published to it. */
  revisions: z.record(z.string(), z.int()),
  publishedAt: z.string().nullable(),
  promotedAt: z.string().nullable(),
});
export type WaveRecord = z.infer<typeof WaveRecord>;

export const RolloutFailure = z.object({ wave: z.int().min(1), device: z.string(), instance: z.string().nullable(), reason: z.string() });
export type RolloutFailure = z.infer<typeof RolloutFailure>;

export const RolloutState = z.object({
  version: z.literal(1),
  id: z.string(),
  fleet: z.string(),
  /**
   * running: a driver works on it (or, with `driver` gone, it waits for `rollout resume`); paused:
   * no wave starts until `rollout resume`; halted: a wave failed (or timed out); completed; aborted:
   * the devices already changed were given back what they ran before.
   */
  status: z.enum(['running', 'paused', 'halted', 'completed', 'aborted']),
  startedAt: z.string(),
  updatedAt: z.string(),
  /** The pid of the process driving the rollout now, or null. */
  driver: z.int().nullable(),
  options: z.object({ strategy: z.enum(STRATEGIES), canary: z.int().min(0).nullable(), maxUnavailable: z.int().min(1).nullable(), soakSeconds: z.number().min(0).nullable() }),
  /** Index of the wave being worked on (waves.length once completed). */
  current: z.int().min(0),
  waves: z.array(WaveRecord),
  groups: z.record(z.string(), z.object({ tier: Tier, serving: z.int(), maxUnavailable: z.int(), minimumHealthy: z.int() })),
  warnings: z.array(z.string()),
  failure: RolloutFailure.nullable(),
  /** The fleet spec being rolled out (as `apply` read it), so a resume publishes the same thing. */
  spec: z.unknown(),
  /** What ran before, sealed to the controller (base64), for `rollout abort`: the plan record and each changed device's desired copy. */
  previous: z.object({ plan: z.string().nullable(), desired: z.record(z.string(), z.string().nullable()) }),
  /** Devices `rollout abort` gave their previous state back, with the revision it went out as. */
  reverted: z.record(z.string(), z.int()).default({}),
  /**
   * Instances that move with their identity (docs/continuity.md, "Hand-over"): the device each
   * leaves changes in an earlier wave, and its final backup is awaited before the receiver's wave.
   */
  handOver: z.array(z.object({ instance: z.string(), from: z.string().nullable(), to: z.string(), fromEpoch: z.int() })).default([]),
});
export type RolloutState = z.infer<typeof RolloutState>;

/** The rollout record, or null when there is none. Throws InvalidInputError (exit 2) for a damaged file. */
export async function readRollout(stateDir: string): Promise<RolloutState | null> {
  const path = join(stateDir, ROLLOUT_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseJsonText(text, path, RolloutState, 'a rollout record');
}

export async function writeRollout(stateDir: string, state: RolloutState, now: Date = new Date()): Promise<RolloutState> {
  const next = { ...state, updatedAt: now.toISOString() };
  await writeFileAtomic(join(stateDir, ROLLOUT_FILE), `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  return next;
}
