/**
 * Revert without the controller: every new revision is on probation until the device reports it
 * converged with every instance healthy. If it is not healthy within the deadline (or failed to apply
 * twice in a row), the agent goes back by itself to the last revision that was healthy, records why,
 * and refuses that revision from then on (a newer one is tried as usual) — the admin's laptop may be
 * closed mid-rollout. The last good desired state and the revert record live below the agent's root
 * (mode 0600: the desired state holds passwords).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { DeviceStatus } from '#shared/schema/status.ts';

export const LAST_GOOD = '/var/lib/onionfleet/last-good.json';
export const REVERTED = '/var/lib/onionfleet/reverted.json';
/** Failed attempts at one revision before the agent goes back without waiting for the deadline. */
export const MAX_FAILED_ATTEMPTS = 2;

export const RevertRecord = z.object({ revision: z.int().min(1), to: z.int().min(0), instance: z.string().nullable(), reason: z.string(), at: z.string() });
export type RevertRecord = z.infer<typeof RevertRecord>;

interface Probation {
  readonly doc: DesiredState;
  readonly since: number;
  failures: number;
  lastError: string | null;
}

async function readJson<T>(path: string, schema: z.ZodType<T>): Promise<T | null> {
  try {
    const parsed = schema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Why a status is not healthy on `revision`, or null when it is. Only what the device sees itself
 * (the revision converged, each instance's local TLS identity probe): a probe through tor also fails
 * when the Tor network does, and going back would not mend that — the controller's gate waits on it.
 */
export function unhealthyReason(status: DeviceStatus, revision: number): { reason: string; instance: string | null } | null {
  if (status.appliedRevision !== revision || !status.converged) return { reason: status.error ?? (status.blocked.length > 0 ? `blocked: ${status.blocked.join('; ')}` : `revision ${revision} not converged`), instance: null };
  const sick = status.instances.find((i) => !i.healthy);
  if (sick !== undefined) return { reason: `instance ${sick.id} is not healthy (service ${sick.service}${sick.probe?.error != null ? `, probe: ${sick.probe.error}` : ''})`, instance: sick.id };
  return null;
}

export class RevisionGuard {
  private probation: Probation | null = null;

  private constructor(private readonly root: string, private readonly deadlineMs: number, private revert: RevertRecord | null, private lastGood: DesiredState | null) {}

  static async open(root: string, deadlineSeconds: number): Promise<RevisionGuard> {
    return new RevisionGuard(root, deadlineSeconds * 1000, await readJson(join(root, REVERTED), RevertRecord), await readJson(join(root, LAST_GOOD), DesiredState));
  }

  /** The last time the agent went back by itself (reported in the status), or null. */
  reverted(): RevertRecord | null {
    return this.revert;
  }

  /** The revision of the last good state, or null when none was healthy yet. */
  lastGoodRevision(): number | null {
    return this.lastGood?.revision ?? null;
  }

  /** True for the revision the agent went back from: it keeps its last good state instead. */
  refuses(revision: number): boolean {
    return this.revert !== null && this.revert.revision === revision;
  }

  /** A document about to be applied: a revision other than the last good one goes on probation. */
  begin(doc: DesiredState, now: number = Date.now()): void {
    if (this.probation?.doc.revision === doc.revision || this.lastGood?.revision === doc.revision) return;
    this.probation = { doc, since: now, failures: 0, lastError: null };
  }

  /** Applying the revision on probation failed (the error names what). */
  failed(revision: number, error: string): void {
    if (this.probation?.doc.revision !== revision) return;
    this.probation.failures += 1;
    this.probation.lastError = error;
  }

  /** Milliseconds until the probation's deadline, or null when nothing is on probation. */
  untilDeadline(now: number = Date.now()): number | null {
    return this.probation === null ? null : Math.max(0, this.probation.since + this.deadlineMs - now);
  }

  /**
   * Looks at a status just sent. Healthy on the revision on probation (or, with none, on the one
   * applied): it becomes the last good one. Out of time or failed too often: `goBack` applies the last
   * good state, and the revert is recorded; without a last good state there is nothing to go back to,
   * and the agent keeps trying.
   */
  async evaluate(status: DeviceStatus, goBack: (good: DesiredState) => Promise<void>, now: number = Date.now()): Promise<'idle' | 'healthy' | 'waiting' | 'reverted'> {
    const p = this.probation;
    if (p === null) return 'idle';
    const sick = unhealthyReason(status, p.doc.revision);
    if (sick === null) {
      await this.remember(p.doc);
      this.probation = null;
      return 'healthy';
    }
    const outOfTime = now - p.since >= this.deadlineMs;
    if (!outOfTime && p.failures < MAX_FAILED_ATTEMPTS) return 'waiting';
    const good = this.lastGood;
    if (good === null || good.revision === p.doc.revision) return 'waiting';
    const why = p.lastError ?? sick.reason;
    const instance = sick.instance ?? p.doc.instances.find((i) => why.includes(i.id))?.id ?? null;
    const record: RevertRecord = {
      revision: p.doc.revision, to: good.revision, instance, at: new Date(now).toISOString(),
      reason: `${outOfTime && p.failures < MAX_FAILED_ATTEMPTS ? `not healthy within ${Math.round(this.deadlineMs / 1000)} s` : `failed ${p.failures} times`}: ${why}`,
    };
    this.probation = null;
    this.revert = record;
    await this.write(REVERTED, record);
    await goBack(good);
    return 'reverted';
  }

  private async remember(doc: DesiredState): Promise<void> {
    this.lastGood = doc;
    await this.write(LAST_GOOD, doc);
  }

  private async write(path: string, value: unknown): Promise<void> {
    const file = join(this.root, path);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  }
}
