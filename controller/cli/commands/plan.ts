import { effectiveSpec } from '../../apply/rollout.ts';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT, InvalidInputError } from '#shared/errors.ts';
import { appliedPlacement } from '../../apply/publish.ts';
import { kvStore } from '../../apply/store.ts';
import { openSession } from '../../bus/session.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';
import { writeOutputFile } from '#shared/cli/output-file.ts';
import { explainPlan, plan, type PlanResult, type PreviousPlacement } from '../../planner/index.ts';
import { loadSolver, timedSolver } from '../../solver/highs.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { loadPreviousPlan } from '../../spec/previous-plan.ts';

const Flags = z.object({
  file: z.string().min(1),
  previous: z.string().min(1).optional(),
  rebalance: z.boolean().default(false),
  json: z.boolean().default(false),
  out: z.string().min(1).optional(),
  deployed: z.boolean().default(false),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
});

/** `onionfleet plan`: exit 0 feasible, 3 infeasible (explained), 2 invalid input. Publishes nothing. */
export async function planCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const loaded = await loadFleetSpec(flags.file);
  // Against what is deployed, the states `device drain` / `device revoke` set count as they do for apply.
  const spec = flags.deployed ? await effectiveSpec(statePaths(stateDir(flags.state)), loaded) : loaded;
  if (flags.deployed && flags.previous !== undefined) throw new InvalidInputError([{ source: '--deployed', message: 'give either --previous or --deployed, not both' }]);
  const previous = flags.deployed ? await deployedPlacement(flags.state, flags.passphraseFile) : flags.previous === undefined ? null : await loadPreviousPlan(flags.previous, spec.fleet, flags.file);
  const timed = timedSolver(await loadSolver());
  const result = plan(spec, previous, { rebalance: flags.rebalance, solver: timed.solver });
  const document = planDocument(spec.fleet, result, timed.ms());
  if (flags.out !== undefined) await writeOutputFile(flags.out, toJson(document));
  ctx.output.out(flags.json ? toJson(document) : renderPlan(spec.fleet, result, document.explanations));
  if (!result.feasible) ctx.setExitCode(EXIT.refused);
}

/** The `plan --json` object (docs/reference/fleet-yaml.md), with `fleet` and `metrics`. */
export function planDocument(fleet: string, result: PlanResult, solverMs: number | null = null) {
  const { metrics } = result;
  return {
    feasible: result.feasible,
    placements: result.placement,
    diff: result.diff,
    explanations: explainPlan(result),
    fleet,
    metrics: {
      mode: metrics.mode,
      packing: metrics.packing,
      moves: metrics.moves,
      minimumMoves: metrics.minimumMoves,
      proven: metrics.proven,
      solver: metrics.solver === null ? null : { ...metrics.solver, ms: solverMs },
      groups: metrics.groups,
    },
  };
}

/** What the fleet runs now, as the last `apply` recorded it in JetStream (null before any apply). */
async function deployedPlacement(state: string | undefined, passphraseFile: string | undefined): Promise<PreviousPlacement[] | null> {
  const paths = statePaths(stateDir(state));
  const session = await openSession(paths, await statePassphrase(paths, passphraseFile));
  try {
    return (await appliedPlacement({ own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets }))?.placements ?? null;
  } finally {
    await session.close();
  }
}

function renderPlan(fleet: string, result: PlanResult, explanations: readonly string[]): string {
  if (!result.feasible) {
    return [`fleet ${fleet}: infeasible — nothing would be published`, ...explanations.map((e) => `  ✗ ${e}`)].join('\n');
  }
  const { metrics, diff } = result;
  const devices = new Set(result.placement.map((p) => p.device)).size;
  const lines = [`fleet ${fleet}: feasible — ${plural(result.placement.length, 'instance')} on ${plural(devices, 'device')} (${metrics.mode} plan)`];
  for (const g of metrics.groups) {
    const rows = result.placement.filter((p) => p.group === g.group);
    lines.push(
      '',
      `${g.group} (${g.tier}${g.dedicated ? ', dedicated' : ''}): ${plural(g.devices, 'device')}, SMP over ${plural(g.operators, 'operator')}, ` +
        `${plural(g.locations, 'location')}, ${plural(g.jurisdictions, 'jurisdiction')}`,
      table([['instance', 'device', 'operator', 'location', 'jurisdiction'], ...rows.map((p) => [p.instance, p.device, p.operator, p.location, p.jurisdiction])]),
    );
  }
  lines.push('', `diff: +${diff.added.length} added  ~${diff.moved.length} moved  -${diff.removed.length} removed  =${diff.kept.length} kept${movesNote(result)}`);
  for (const id of diff.moved) lines.push(`  ~ ${id} (new onion address: members need a new bundle)`);
  for (const id of diff.removed) lines.push(`  - ${id}`);
  return lines.join('\n');
}

/** Whether the moves are the fewest possible: said only when there was something to move. */
function movesNote(result: PlanResult): string {
  const { metrics, diff } = result;
  if (diff.moved.length + diff.kept.length === 0) return '';
  if (metrics.mode === 'rebalance') return metrics.minimumMoves === null ? '' : ` (rebalance; the fewest possible is ${metrics.minimumMoves})`;
  return metrics.proven ? ' (the fewest moves possible: proven)' : ' (not proven the fewest: the exact solver did not finish)';
}
