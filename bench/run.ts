/**
 * `npm run bench [-- NAME…]`: runs the named benchmarks (all when none is named) and prints one
 * JSON object per line, `{"name": …, …figures}`.
 */
import { agentApply } from './agent-apply.bench.ts';
import { agentMetrics } from './agent-metrics.bench.ts';
import { bundleExport } from './bundle-export.bench.ts';
import { cliStartup } from './cli-startup.bench.ts';
import { converge } from './converge.bench.ts';
import { fleetApply } from './fleet-apply.bench.ts';
import { convergeTor } from './converge-tor.bench.ts';
import { failover } from './failover.bench.ts';
import { hostApply } from './host-apply.bench.ts';
import { planner, plannerChurn } from './planner.bench.ts';
import { plannerExact } from './planner-exact.bench.ts';
import { rollout } from './rollout.bench.ts';
import { storeLogChain } from './store-log-chain.bench.ts';

export type Benchmark = () => Promise<Record<string, unknown>[]> | Record<string, unknown>[];

const BENCHMARKS: Readonly<Record<string, Benchmark>> = {
  planner,
  'planner-churn': plannerChurn,
  'planner-exact': plannerExact,
  'agent-apply': agentApply,
  'agent-metrics': agentMetrics,
  converge,
  'fleet-apply': fleetApply,
  'converge-tor': convergeTor,
  'bundle-export': bundleExport,
  'cli-startup': cliStartup,
  rollout,
  'store-log-chain': storeLogChain,
};

/** Run only when named: they take minutes (a host VM and its image build; a Tor network and a failover). */
const ON_REQUEST: Readonly<Record<string, Benchmark>> = {
  'host-apply': hostApply,
  /** A private Tor network, 3 Pis, a SIGKILLed one and `device lost` (several minutes). */
  failover,
};

const wanted = process.argv.slice(2).filter((a) => a !== '--');
const unknown = wanted.filter((n) => !(n in BENCHMARKS) && !(n in ON_REQUEST));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark: ${unknown.join(', ')} (have: ${[...Object.keys(BENCHMARKS), ...Object.keys(ON_REQUEST)].join(', ')})\n`);
  process.exitCode = 2;
} else {
  for (const [name, bench] of [...Object.entries(BENCHMARKS), ...Object.entries(ON_REQUEST)]) {
    if (wanted.length > 0 ? !wanted.includes(name) : name in ON_REQUEST) continue;
    for (const row of await bench()) process.stdout.write(`${JSON.stringify({ name, ...row })}\n`);
  }
}
