import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT } from '#shared/errors.ts';
import type { InstanceStatus } from '#shared/schema/status.ts';
import { appliedDesiredRevisions } from '../../apply/publish.ts';
import { kvStore } from '../../apply/store.ts';
import { openSession } from '../../bus/session.ts';
import { isConverged, readFleetStatus, type DeviceView } from '../../status/view.ts';
import { listDevices } from '../../state/devices.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';
import { pidAlive } from '#shared/os/live-process.ts';
import { rolloutHeadline } from '../../rollout/describe.ts';
import { readRollout } from '../../rollout/state.ts';

const Flags = z.object({ state: z.string().optional(), passphraseFile: z.string().optional(), json: z.boolean().default(false), watch: z.boolean().default(false) });

/**
 * `onionfleet status [--json] [--watch]`: per device (desired/applied revision, instances
 * healthy/total, heartbeat age, problems) and per group. Exit 0 all converged, 1 otherwise.
 */
export async function statusCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const session = await openSession(paths, await statePassphrase(paths, flags.passphraseFile));
  try {
    const devices = await listDevices(paths);
    for (;;) {
      const views = await readFleetStatus(session, devices);
      const desired = await appliedDesiredRevisions({ own: kvStore(session.own), identity: session.identity, secrets: session.secrets }, devices.map((d) => d.device));
      const rollout = await readRollout(paths.dir);
      const report = { ...summarize(views, desired, Date.now()), rollout: rollout === null ? null : { id: rollout.id, status: rollout.status, wave: Math.min(rollout.current + 1, rollout.waves.length), waves: rollout.waves.length, failure: rollout.failure, groups: rollout.groups } };
      const headline = rollout === null ? '' : `\n\n${rolloutHeadline(rollout, rollout.driver !== null && pidAlive(rollout.driver))}`;
      ctx.output.out(flags.json ? toJson(report) : `${render(report)}${headline}`);
      const allGood = report.devices.every((d) => d.converged);
      if (!flags.watch) {
        if (!allGood) ctx.setExitCode(EXIT.failed);
        return;
      }
      await changed(session);
    }
  } finally {
    await session.close();
  }
}

function summarize(views: readonly DeviceView[], desired: ReadonlyMap<string, number>, now: number) {
  const devices = views.map((v) => {
    const s = v.status;
    const want = desired.get(v.device) ?? 0;
    return {
      device: v.device,
      desiredRevision: want,
      appliedRevision: s?.appliedRevision ?? 0,
      healthy: s?.instances.filter((i) => i.healthy).length ?? 0,
      total: s?.instances.length ?? 0,
      heartbeatAgeSeconds: s === null ? null : Math.max(0, Math.round((now - Date.parse(s.observedAt)) / 1000)),
      converged: isConverged(v, want),
      onionProbe: onionProbeSummary(s?.instances ?? []),
      problems: [...(v.problem === null ? [] : [v.problem]), ...(s?.error ? [s.error] : []), ...(s?.refused ? [`refused revision ${s.refused.revision}: ${s.refused.reasons.join('; ')}`] : []), ...(s?.blocked ?? []), ...(s?.reverted != null && s.reverted.revision >= want ? [`went back to revision ${s.reverted.to} by itself: ${s.reverted.reason}`] : [])],
    };
  });
  const groups = new Map<string, { healthy: number; total: number }>();
  for (const v of views) for (const i of v.status?.instances ?? []) {
    const g = groups.get(i.group) ?? { healthy: 0, total: 0 };
    g.total++;
    if (i.healthy) g.healthy++;
    groups.set(i.group, g);
  }
  return { devices, groups: [...groups].sort(([a], [b]) => (a < b ? -1 : 1)).map(([group, g]) => ({ group, ...g })) };
}

function render(report: ReturnType<typeof summarize>): string {
  const age = (s: number | null) => (s === null ? '-' : s < 120 ? `${s}s` : `${Math.round(s / 60)}m`);
  return [
    table([['device', 'revision', 'instances', 'heartbeat', 'onion self-probe', 'problems'], ...report.devices.map((d) => [d.device, `${d.appliedRevision}/${d.desiredRevision}`, `${d.healthy}/${d.total}`, age(d.heartbeatAgeSeconds), selfProbeCell(d.onionProbe), d.problems.join('; ') || (d.converged ? 'ok' : 'converging')])]),
    '',
    table([['group', 'healthy instances'], ...report.groups.map((g) => [g.group, `${g.healthy}/${g.total}`])]),
  ].join('\n');
}

/**
 * The agents' self-probes of their own onions (through each device's tor): how many instances
 * passed, of those probed, and which did not. `null` when the device reports none (off, or not run yet).
 */
function onionProbeSummary(instances: readonly InstanceStatus[]): { ok: number; probed: number; failing: string[] } | null {
  const probed = instances.filter((i) => i.onionProbe != null);
  if (probed.length === 0) return null;
  const failing = probed.filter((i) => !(i.onionProbe?.reachable === true && i.onionProbe.identityOk && i.onionProbe.helloOk)).map((i) => i.id);
  return { ok: probed.length - failing.length, probed: probed.length, failing };
}

function selfProbeCell(p: ReturnType<typeof onionProbeSummary>): string {
  if (p === null) return '-';
  return p.failing.length === 0 ? `ok ${p.ok}/${p.probed}` : `FAIL ${p.ok}/${p.probed} (${p.failing.join(', ')})`;
}

/** Resolves on the next status put (for --watch). */
async function changed(session: Awaited<ReturnType<typeof openSession>>): Promise<void> {
  const watcher = await session.status.watch({ include: 'updates' });
  await watcher[Symbol.asyncIterator]().next();
  watcher.stop();
}
