/**
 * The agent on the host VM (issue 14): a real Debian host under qemu's software emulation — a slow
 * device, 5–20× slower than this machine for CPU-bound work, like a Pi. The guest is enrolled with
 * `device add --ssh` and reaches the controller's NATS through its onion (test/host-vm/guest-fleet.ts).
 *
 * - applyToConvergedMs: `apply --wait` of a standard group of 10 SMP + 1 XFTP on the guest alone,
 *   until the guest reports it healthy (over Tor); agentColdApplyMs: the agent's own first to last
 *   step of that revision (the root applier's journal, whose steps the agent asked for);
 * - noopReconcileMs: `onionfleet-agent apply` of the applied desired state again (nothing to do),
 *   minus the same command's start-up (`onionfleet-agent --version`), both timed in the guest;
 * - applierNoopRoundMs: a heartbeat's no-op round through the root applier (one process per request:
 *   its start-up, opening the sealed document, the no-op reconcile), the median of three;
 * - agentRssMb / agentPeakRssMb: the agent's RSS after the apply, and its peak (VmHWM);
 * - rebootToConvergedMs: from `systemctl reboot` until the controller hears a converged status with
 *   every instance healthy, sent after the boot; bootToConvergedMs: from the guest kernel's boot time
 *   to that status (the guest's clock).
 */
import { until } from '../test/support/processes.ts';
import { GuestFleet } from '../test/host-vm/guest-fleet.ts';

const DEVICE = 'pi-vm';

export async function hostApply(): Promise<Record<string, unknown>[]> {
  const g = await GuestFleet.start({ device: DEVICE, operator: 'alice' });
  try {
    if (g.enrolled.code !== 0) throw new Error(`device add --ssh failed: ${g.enrolled.stderr}`);
    const fleet = g.tf.h.writeFleet([
      'version: 1', 'fleet: host-bench', 'operators:', '  - id: alice', 'devices:',
      `  - { id: ${DEVICE}, operator: alice, location: berlin, jurisdiction: DE }`,
      'groups:', '  - { id: family, tier: standard, smp: 10, xftp: 1, members: [m] }',
      'members:', '  - { id: m, passphrase: true }', '',
    ].join('\n'));
    await until('the guest\'s first status', () => g.status(), 600_000);

    const applyStarted = performance.now();
    const applied = await g.tf.h.apply(fleet, '--wait', '--timeout', '1200');
    const applyToConvergedMs = Math.round(performance.now() - applyStarted);
    if (applied.code !== 0) throw new Error(`apply did not converge: ${applied.stderr}${applied.stdout}`);

    const journal = await g.vm.must("journalctl -u onionfleet-agent.service -u 'onionfleet-apply@*' -o cat --no-pager");
    const steps = journal.split('\n').flatMap((l) => {
      try {
        const e = JSON.parse(l) as { time?: string; revision?: number; step?: string; msg?: string };
        return e.revision === 1 && e.time !== undefined && (e.step !== undefined || e.msg?.startsWith('converged') === true) ? [Date.parse(e.time)] : [];
      } catch {
        return [];
      }
    });
    const agentColdApplyMs = steps.length < 2 ? null : Math.max(...steps) - Math.min(...steps);

    const timing = await g.vm.must([
      'ms() { echo $(( $(date +%s%N) / 1000000 )); }',
      't0=$(ms); onionfleet-agent --version >/dev/null; t1=$(ms)',
      'onionfleet-agent apply --desired /var/lib/onionfleet/desired.json --json > /tmp/noop.json; t2=$(ms)',
      'echo "startup $((t1 - t0))"; echo "noop $((t2 - t1))"',
      'pid=$(systemctl show -p MainPID --value onionfleet-agent.service)',
      'echo "rss $(awk \'/^VmRSS/ {print $2}\' /proc/$pid/status)"; echo "hwm $(awk \'/^VmHWM/ {print $2}\' /proc/$pid/status)"',
    ].join('\n'));
    const figure = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(timing)?.[1] ?? NaN);
    const noop = JSON.parse(await g.vm.must('cat /tmp/noop.json')) as { converged: boolean; steps: string[] };
    if (!noop.converged || noop.steps.length > 0) throw new Error(`the second apply was not a no-op: ${JSON.stringify(noop)}`);

    // The heartbeat's no-op rounds through the root applier: one applier process per request, from
    // systemd's "Started" to its "Deactivated" (the journal's clock), the three after the apply converged.
    const convergedAt = Date.now() / 1000 - 1;
    const rounds = await until('three heartbeat rounds through the applier', async () => {
      const found = applierRounds(await g.vm.must("journalctl -u 'onionfleet-apply@*' -o short-unix --no-pager")).filter((r) => r.start > convergedAt);
      return found.length >= 3 ? found.slice(0, 3) : null;
    }, 600_000);
    const applierNoopRoundMs = Math.round(rounds.map((r) => r.ms).sort((a, b) => a - b)[1] ?? NaN);

    const bootBefore = (await g.vm.must('cat /proc/sys/kernel/random/boot_id')).trim();
    const rebootStarted = performance.now();
    await g.vm.must('systemd-run --on-active=1 systemctl reboot');
    const bootTime = await until('the guest to come back', async () => {
      try {
        const out = (await g.vm.must('cat /proc/sys/kernel/random/boot_id; awk \'/^btime/ {print $2}\' /proc/stat')).trim().split('\n');
        return out[0] !== bootBefore ? Number(out[1]) * 1000 : null;
      } catch {
        return null;
      }
    }, 600_000);
    const status = await until('a converged status sent after the boot', async () => {
      const s = await g.status();
      return s !== null && Date.parse(s.observedAt) > bootTime && s.converged && s.instances.length === 11 && s.instances.every((i) => i.healthy) ? s : null;
    }, 900_000);
    const rebootToConvergedMs = Math.round(performance.now() - rebootStarted);
    return [{
      instances: 11, applyToConvergedMs, agentColdApplyMs,
      noopReconcileMs: figure('noop') - figure('startup'), agentCliStartupMs: figure('startup'), applierNoopRoundMs,
      agentRssMb: Math.round(figure('rss') / 1024), agentPeakRssMb: Math.round(figure('hwm') / 1024),
      rebootToConvergedMs, bootToConvergedMs: Date.parse(status.observedAt) - bootTime,
    }];
  } finally {
    await g.stop();
  }
}

/** Each applier process in a `journalctl -o short-unix` of the applier's units: when it started and how long it ran. */
function applierRounds(journal: string): { start: number; ms: number }[] {
  const started = new Map<string, number>();
  const rounds: { start: number; ms: number }[] = [];
  for (const line of journal.split('\n')) {
    const m = /^(\d+\.\d+) \S+ systemd\[1\]: (?:Started (onionfleet-apply@\S+?\.service)|(onionfleet-apply@\S+?\.service): Deactivated successfully)/.exec(line);
    if (m === null) continue;
    const at = Number(m[1]);
    if (m[2] !== undefined) started.set(m[2], at);
    else if (m[3] !== undefined && started.has(m[3])) {
      const start = started.get(m[3]) ?? at;
      rounds.push({ start, ms: (at - start) * 1000 });
      started.delete(m[3]);
    }
  }
  return rounds;
}
