/**
 * `onionfleet-agent`, the agent CLI on each Pi. Wiring only: each verb lives in commands/<verb>.ts
 * and is loaded when it runs. The verbs arrive with the agent issue (render, apply, status, run).
 */
import { Command, Option } from 'commander';
import type { ExitCode } from '../../shared/errors.ts';
import { runMain } from '../../shared/cli/run-main.ts';
import type { Output } from '../../shared/cli/output.ts';

export function buildProgram(): Command {
  return new Command('onionfleet-agent')
    .description('Make this Pi match its signed desired state: SimpleX instances, onion services, firewall, SSH over Tor.')
    .version('0.1.0')
    .addOption(new Option('--debug', 'print stack traces for errors'));
}

export function main(argv: readonly string[], output?: Output): Promise<ExitCode> {
  return runMain(buildProgram, argv, output);
}
