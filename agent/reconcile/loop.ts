/**
 * Level-triggered reconciliation: observe → plan → execute, again until a round plans nothing.
 * The owner's limits are checked first; a refused desired state changes nothing on the device.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import type { ResolvedConfig } from '../config.ts';
import { readRecord, writeRecord } from '../record.ts';
import type { ServiceManager } from '../services/service-manager.ts';
import type { SystemActions } from '../system.ts';
import { hostOwners, noOwners } from '../owners.ts';
import { makeExecutors } from './execute.ts';
import { limitViolations } from './limits.ts';
import { observe } from './observe.ts';
import { planSteps } from './plan.ts';
import { heldNow } from '../hold/markers.ts';
import { pruneStaged } from '../restore/staging.ts';
import { describeStep, type Executors, type Step } from './steps.ts';

/** Rounds before giving up: a healthy device converges in two (act, then record the revision). */
const MAX_ROUNDS = 6;

/** Where the agent keeps the desired state it works towards (mode 0600: it holds passwords). */
export const DESIRED_COPY = '/var/lib/onionfleet/desired.json';

export interface ReconcileContext {
  readonly config: ResolvedConfig;
  readonly services: ServiceManager;
  readonly system: SystemActions;
  /** Kept by a long-running agent across reconciles (see ObserveContext). */
  readonly binaryHashes?: Map<string, { size: number; mtimeMs: number; sha256: string | null }>;
  /** Called with a stopped instance just before it is archived (the agent's final backup). */
  readonly beforeArchive?: (instance: string, kind: 'smp' | 'xftp') => Promise<void>;
  /** Called before each step runs (progress, logs). */
  readonly onStep?: (step: Step, index: number) => void;
}

export interface ReconcileResult {
  readonly converged: boolean;
  /** Descriptions of the steps run (or, in a dry run, that would run). */
  readonly steps: string[];
  readonly blocked: string[];
  /** Set when the owner's limits refused the desired state: nothing was changed. */
  readonly refused: string[] | null;
  readonly rounds: number;
}

/**
 * The desired state as this agent runs it: binary paths from the config's override or below the
 * root, and local ports moved by the config's `portOffset` (simulated devices sharing one host).
 */
export function localize(desired: DesiredState, config: ResolvedConfig): DesiredState {
  return withResolvedBinaries(offsetPorts(desired, config.portOffset), config);
}

/** Local ports (and their firewall entries) moved by `offset`; SSH's 22 stays. */
export function offsetPorts(desired: DesiredState, offset: number): DesiredState {
  if (offset === 0) return desired;
  return {
    ...desired,
    instances: desired.instances.map((i) => ({ ...i, localPort: i.localPort + offset })),
    firewall: { loopbackOnlyPorts: desired.firewall.loopbackOnlyPorts.map((p) => (p === 22 ? p : p + offset)) },
  };
}

function withResolvedBinaries(desired: DesiredState, config: ResolvedConfig): DesiredState {
  const resolve = (name: 'smp-server' | 'xftp-server') => {
    const override = config.binaries[name];
    const source = desired.binaries[name];
    return override !== undefined ? { path: override } : { ...source, path: join(config.root, source.path) };
  };
  return { ...desired, binaries: { 'smp-server': resolve('smp-server'), 'xftp-server': resolve('xftp-server') } };
}

export async function reconcile(desiredDoc: DesiredState, ctx: ReconcileContext, options: { dryRun?: boolean } = {}): Promise<ReconcileResult> {
  const { root } = ctx.config;
  const refused = limitViolations(desiredDoc, ctx.config.limits);
  if (refused.length > 0) {
    if (options.dryRun !== true) {
      const record = await readRecord(root);
      await writeRecord(root, { ...record, refused: { revision: desiredDoc.revision, reasons: refused } });
    }
    return { converged: false, steps: [], blocked: [], refused, rounds: 0 };
  }
  const desired = localize(desiredDoc, ctx.config);
  const done: string[] = [];
  let blocked: string[] = [];
  if (options.dryRun !== true) {
    await mkdir(dirname(join(root, DESIRED_COPY)), { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(root, DESIRED_COPY), `${JSON.stringify(offsetPorts(desiredDoc, ctx.config.portOffset), null, 2)}\n`, { mode: 0o600 });
    await pruneStaged(root, desiredDoc);
  }
  const owners = ctx.config.system === 'host' ? hostOwners() : noOwners;
  // Instances held at boot (agent/hold/) are left alone until released.
  const heldAtBoot = new Set((await heldNow(root)).map((h) => h.id));
  let index = 0;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const observation = await observe(desired, { root, services: ctx.services, ...(ctx.binaryHashes ? { binaryHashes: ctx.binaryHashes } : {}) });
    const plan = planSteps(desired, observation, { contentRoot: ctx.config.system === 'sandbox' ? root : '', metricsIntervalSeconds: ctx.config.metrics.intervalSeconds, heldAtBoot });
    blocked = plan.blocked;
    if (options.dryRun === true) return { converged: plan.steps.length === 0, steps: plan.steps.map(describeStep), blocked, refused: null, rounds: 0 };
    if (plan.steps.length === 0) return { converged: blocked.length === 0, steps: done, blocked, refused: null, rounds: round - 1 };
    const executors = makeExecutors({ root, services: ctx.services, system: ctx.system, socksProxy: ctx.config.socksProxy, record: observation.record, owners, ...(ctx.beforeArchive ? { beforeArchive: ctx.beforeArchive } : {}) });
    for (const step of plan.steps) {
      ctx.onStep?.(step, index);
      await runStep(executors, step);
      done.push(describeStep(step));
      crashHook(index++);
    }
  }
  return { converged: false, steps: done, blocked, refused: null, rounds: MAX_ROUNDS };
}

function runStep(executors: Executors, step: Step): Promise<void> {
  // TypeScript cannot correlate executors[step.action] with step's own action type; the record's
  // mapped type guarantees they match.
  const run = executors[step.action] as (s: Step) => Promise<void>;
  return run(step);
}

/** Test hook: ONIONFLEET_TEST_CRASH_AFTER_STEP=N kills the agent right after step N (crash-safety tests). */
function crashHook(index: number): void {
  const at = process.env.ONIONFLEET_TEST_CRASH_AFTER_STEP;
  if (at !== undefined && Number(at) === index) process.kill(process.pid, 'SIGKILL');
}
