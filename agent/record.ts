/**
 * What the agent has applied, kept on the device (PATHS.agentState): the revision it converged on
 * and a hash of the configuration each service, tor, the firewall and sshd last (re)loaded — so a
 * restart interrupted by a crash is redone on the next round (level-triggered, not edge-triggered).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { PATHS } from './render/paths.ts';

export const AgentRecord = z.object({
  revision: z.int().min(0).default(0),
  services: z.record(z.string(), z.string()).default({}),
  tor: z.string().nullable().default(null),
  firewall: z.string().nullable().default(null),
  sshd: z.string().nullable().default(null),
  /** The last desired state refused by the owner's limits, and why. */
  refused: z.object({ revision: z.int(), reasons: z.array(z.string()) }).nullable().default(null),
});
export type AgentRecord = z.infer<typeof AgentRecord>;

export function emptyRecord(): AgentRecord {
  return AgentRecord.parse({});
}

/** The record under `root`; a missing or unreadable one is empty (everything is redone, which is safe). */
export async function readRecord(root: string): Promise<AgentRecord> {
  try {
    const parsed = AgentRecord.safeParse(JSON.parse(await readFile(join(root, PATHS.agentState), 'utf8')));
    return parsed.success ? parsed.data : emptyRecord();
  } catch {
    return emptyRecord();
  }
}

export async function writeRecord(root: string, record: AgentRecord): Promise<void> {
  await mkdir(dirname(join(root, PATHS.agentState)), { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(root, PATHS.agentState), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}
