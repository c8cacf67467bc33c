/**
 * The alert state between rounds (`state/alerts.json`, 0600, atomic): what is pending or firing,
 * and the fingerprints first seen. It survives a restart of `onionfleet metrics`, so an alert
 * that fired is not fired again, and one that cleared meanwhile is resolved. The dashboard reads it.
 * Also reads the rollout the controller records (`state/rollout.json`, controller/rollout/state.ts;
 * absent: none).
 */
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { readRollout } from '../rollout/state.ts';
import { ALERT_RULES, EMPTY_ALERT_STATE, type AlertState, type RolloutView } from './evaluate.ts';

const Stored = z.object({
  active: z.record(z.string(), z.object({
    rule: z.enum(ALERT_RULES), subject: z.string(), labels: z.record(z.string(), z.string()), message: z.string(), since: z.number(), firing: z.boolean(),
  })),
  pinned: z.record(z.string(), z.string()),
});

export const alertStatePath = (stateDir: string) => join(stateDir, 'alerts.json');

export async function readAlertState(stateDir: string): Promise<AlertState> {
  return await loadJson(alertStatePath(stateDir), Stored, 'the alert state').catch(() => EMPTY_ALERT_STATE);
}

export async function writeAlertState(stateDir: string, state: AlertState): Promise<void> {
  await writeFileAtomic(alertStatePath(stateDir), `${JSON.stringify(state, null, 1)}\n`, { mode: 0o600 });
}

/** The rollout `apply` recorded, when there is one; `[]` when absent or unreadable. */
export async function readRollouts(stateDir: string): Promise<RolloutView[]> {
  const rollout = await readRollout(stateDir).catch(() => null);
  if (rollout === null) return [];
  const f = rollout.failure;
  const reason = f === null ? null : `wave ${f.wave}: ${f.device}${f.instance === null ? '' : ` (${f.instance})`}: ${f.reason}`;
  return [{ id: rollout.id, state: rollout.status, reason }];
}
