/**
 * `onionfleet-agent`, the agent CLI on each Pi. Wiring only: each verb lives in commands/<verb>.ts
 * and is loaded when it runs, so `--help` stays instant.
 */
import { Command, Option } from 'commander';
import type { Output } from '#shared/cli/output.ts';
import { runMain, type CliContext } from '#shared/cli/run-main.ts';
import type { ExitCode } from '#shared/errors.ts';
import { ONIONFLEET_VERSION } from '#shared/version.ts';

const ROOT = ['--root <DIR>', 'place every managed path below DIR (default /, or the config\'s root)'] as const;
const CONFIG = ['--config <FILE>', 'the agent config (default /etc/onionfleet/agent.json when present)'] as const;

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('onionfleet-agent')
    .description('Make this Pi match its desired state: SimpleX instances, onion services, firewall, SSH over Tor.')
    .version(ONIONFLEET_VERSION)
    .addOption(new Option('--debug', 'print stack traces for errors (after any verb too)'))
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('init')
    .description('make this device\'s keys (once) and print its enrollment record (public halves only)')
    .requiredOption('--device <ID>', 'this device\'s id in fleet.yaml')
    .option(...ROOT)
    .option(...CONFIG)
    .action(async (opts: unknown) => (await import('./commands/init.ts')).initCommand(opts, ctx));

  program
    .command('join')
    .description('enroll this device with a join token from the admin (its keys are made here); it is pending until approved')
    .argument('[TOKEN]', 'the token (prefer --token-file: an argument shows in shell history and the process list)')
    .requiredOption('--device <ID>', 'this device\'s id in fleet.yaml')
    .option('--token-file <FILE>', 'read the token from FILE, or from stdin with -')
    .option('--socks <HOST:PORT>', 'tor\'s SocksPort, when the controller is an onion (default: the config\'s, else 127.0.0.1:9050)')
    .option(...ROOT)
    .option('--config <FILE>', 'the agent config to write (default /etc/onionfleet/agent.json, below --root when given)')
    .option('--json', 'print the result as JSON')
    .action(async (token: unknown, opts: unknown) => (await import('./commands/join.ts')).joinCommand(token, opts, ctx));

  program
    .command('run')
    .description('connect to the controller, apply each desired state, report status (until Ctrl-C)')
    .option(...ROOT)
    .option(...CONFIG)
    .option('--applier <SOCKET>', 'leave what needs root to the applier listening on SOCKET (the systemd units: see docs/security.md)')
    .option('--keys <DIR>', 'read the device\'s keys from DIR (systemd\'s credentials directory) instead of the config\'s keysDir')
    .action(async (opts: unknown) => (await import('./commands/run.ts')).runCommand(opts, ctx));

  program
    .command('applier')
    .description('the agent\'s privileged half: one request on stdin, its answer on stdout (run by onionfleet-apply.socket)')
    .option(...ROOT)
    .option(...CONFIG)
    .action(async (opts: unknown) => (await import('./commands/applier.ts')).applierCommand(opts, ctx));

  program
    .command('hold')
    .description('at boot, before tor: hold back the instances another device may now serve until the controller confirms them (onionfleet-hold.service)')
    .option(...ROOT)
    .option(...CONFIG)
    .option('--json', 'print what is held as JSON')
    .action(async (opts: unknown) => (await import('./commands/hold.ts')).holdCommand(opts, ctx));

  program
    .command('render')
    .description('write every file the agent would manage below DIR, and list them; starts nothing')
    .requiredOption('--desired <FILE>', 'a desired state (onionfleet desired --out)')
    .requiredOption('--root <DIR>', 'where to write')
    .option('--json', 'print [{"path","kind","mode"}]')
    .action(async (opts: unknown) => (await import('./commands/render.ts')).renderCommand(opts, ctx));

  program
    .command('apply')
    .description('make the device match a desired state (exit 0 converged, 1 failed, 2 invalid, 3 refused)')
    .requiredOption('--desired <FILE>', 'a desired state (JSON, or sealed by `onionfleet apply --offline`)')
    .option(...ROOT)
    .option(...CONFIG)
    .option('--dry-run', 'list the steps and change nothing')
    .option('--json', 'print the result as JSON')
    .action(async (opts: unknown) => (await import('./commands/apply.ts')).applyCommand(opts, ctx));

  program
    .command('status')
    .description('instances, their onions, fingerprints, addresses and a local identity probe')
    .option(...ROOT)
    .option(...CONFIG)
    .option('--no-probe', 'skip the TLS identity probe')
    .option('--json', 'print the status as JSON')
    .action(async (opts: unknown) => (await import('./commands/status.ts')).statusCommand(opts, ctx));

  program
    .command('seal-status')
    .description('offline fleets: write this device\'s status, signed and sealed to the controller, to a file')
    .requiredOption('--out <FILE>', 'where to write it (mode 0600), e.g. <device>.status.age')
    .option(...ROOT)
    .option(...CONFIG)
    .option('--json', 'print the summary as JSON')
    .action(async (opts: unknown) => (await import('./commands/seal-status.ts')).sealStatusCommand(opts, ctx));

  program
    .command('purge')
    .description('delete the archive of retired instances (their keys and data) for good')
    .option(...ROOT)
    .option(...CONFIG)
    .option('--yes', 'really delete')
    .option('--json', 'print the result as JSON')
    .action(async (opts: unknown) => (await import('./commands/purge.ts')).purgeCommand(opts, ctx));

  return program;
}

export function main(argv: readonly string[], output?: Output): Promise<ExitCode> {
  return runMain(buildProgram, argv, output);
}
