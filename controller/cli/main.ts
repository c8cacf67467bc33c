/**
 * `onionfleet`, the controller CLI. Wiring only: each verb lives in commands/<verb>.ts and is loaded
 * when it runs, so `--help` stays instant.
 */
import { Command, Option } from 'commander';
import type { ExitCode } from '../../shared/errors.ts';
import { runMain, type CliContext } from '../../shared/cli/run-main.ts';
import type { Output } from '../../shared/cli/output.ts';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('onionfleet')
    .description('Plan, apply and watch a fleet of private SimpleX servers on Tor-only Raspberry Pis.')
    .version('0.1.0')
    .addOption(new Option('--debug', 'print stack traces for errors'))
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('validate')
    .description('check a fleet.yaml; writes nothing (exit 0 valid, 2 invalid)')
    .requiredOption('-f, --file <FILE>', 'the fleet.yaml')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/validate.ts')).validate(opts, ctx));

  program
    .command('plan')
    .description('place instances on devices and show the diff; publishes nothing (exit 0 feasible, 3 infeasible, 2 invalid)')
    .requiredOption('-f, --file <FILE>', 'the fleet.yaml')
    .option('--previous <PLAN>', 'a plan written earlier by `plan --json --out`; instances stay where they are')
    .option('--rebalance', 'permit optional moves that improve spread (moved instances get new addresses)')
    .option('--json', 'print the plan as JSON (fleet-spec.md)')
    .option('--out <PLAN>', 'also write the plan as JSON to this file')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/plan.ts')).planCommand(opts, ctx));

  program
    .command('desired')
    .description("write one device's desired state (unsealed; the offline path and a debugging aid)")
    .requiredOption('-f, --file <FILE>', 'the fleet.yaml')
    .requiredOption('--device <ID>', 'the device')
    .requiredOption('--out <FILE>', 'where to write it (mode 0600)')
    .option('--previous <PLAN>', 'the plan the fleet runs now (instances stay where they are)')
    .option('--previous-desired <FILE>', "the device's last desired state (passwords and ports carry over)")
    .option('--json', 'print the summary as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/desired.ts')).desiredCommand(opts, ctx));

  return program;
}

export function main(argv: readonly string[], output?: Output): Promise<ExitCode> {
  return runMain(buildProgram, argv, output);
}
