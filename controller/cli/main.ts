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
    .option('--deployed', 'diff against what the last `apply` deployed (read from JetStream; needs `serve`)')
    .option('--state <DIR>', 'state directory (with --deployed)')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys (with --deployed)')
    .option('--rebalance', 'permit optional moves that improve spread (moved instances get new addresses)')
    .option('--json', 'print the plan as JSON (fleet-spec.md)')
    .option('--out <PLAN>', 'also write the plan as JSON to this file')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/plan.ts')).planCommand(opts, ctx));

  program
    .command('init')
    .description("create the controller's state: signing key, age identity, NATS nkey (files 0600)")
    .option('--state <DIR>', 'state directory (default $ONIONFLEET_STATE or ~/.local/share/onionfleet)')
    .option('--passphrase-file <FILE>', 'encrypt the private keys with this passphrase (or set ONIONFLEET_PASSPHRASE)')
    .option('--json', 'print the identity as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/init.ts')).initCommand(opts, ctx));

  const device = program.command('device').description('enrolled devices');
  device
    .command('add')
    .description("register a device and its NATS user: from its enrollment record (onionfleet-agent init), or by enrolling it over SSH")
    .requiredOption('--id <ID>', 'the device id')
    .option('--record <FILE>', 'its enrollment record (one of --record and --ssh)')
    .option('--ssh <USER@HOST[:PORT]>', 'enroll over SSH: install the agent, make its keys there, register it, start it')
    .option('--operator <OP>', 'the operator who owns the device (required with --ssh)')
    .option('--socks <HOST:PORT>', "reach the host through this SOCKS5 proxy (default for .onion hosts: the controller's tor from `serve --tor`, else 127.0.0.1:9050)")
    .option('--identity <KEY>', 'SSH private key, without passphrase (default ~/.ssh/id_ed25519)')
    .option('--host-key <SHA256:…>', "the host's key fingerprint (ssh-keygen -lf); else shown for confirmation on a terminal")
    .option('--nats-url <URL>', "the agent's nats.url (default: the controller's NATS onion)")
    .option('--agent-bundle <FILE>', 'the single-file agent (default deploy/dist/onionfleet-agent.mjs: npm run build:agent)')
    .addOption(new Option('--remote-root <DIR>', 'install below DIR on the device (tests, the demo)').hideHelp())
    .option('--state <DIR>', 'state directory')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/device-add.ts')).deviceAdd(opts, ctx));
  device
    .command('list')
    .description('registered devices and their key fingerprints')
    .option('--state <DIR>', 'state directory')
    .option('--json', 'print the list as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/device-list.ts')).deviceList(opts, ctx));
  device
    .command('approve')
    .description('register a device that joined with a token (state pending) and open the bus to it')
    .argument('<ID>', 'the pending device')
    .option('--fingerprint <FPR>', 'approve only if its signing key has this fingerprint (SHA256:…, as the device printed it)')
    .option('--state <DIR>', 'state directory')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (id: unknown, opts: unknown) => (await import('./commands/device-approve.ts')).deviceApprove(id, opts, ctx));
  device
    .command('reject')
    .description('forget a pending device; its keys are never registered')
    .argument('<ID>', 'the pending device')
    .option('--state <DIR>', 'state directory')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (id: unknown, opts: unknown) => (await import('./commands/device-approve.ts')).deviceReject(id, opts, ctx));

  const token = program.command('token').description('single-use join tokens for devices of other operators');
  token
    .command('create')
    .description('make a join token for one device of OP and print it (a secret: hand it over as a file)')
    .requiredOption('--operator <OP>', 'the operator the device belongs to')
    .option('--expires <DURATION>', 'lifetime: s, m, h or d, at most 30d', '24h')
    .option('--nats-url <URL>', "the NATS url the device dials (default: the controller's NATS onion)")
    .option('--state <DIR>', 'state directory')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/token.ts')).tokenCreate(opts, ctx));
  token
    .command('list')
    .description('join tokens: id, operator, expiry, state (live, used, expired); no secrets')
    .option('--state <DIR>', 'state directory')
    .option('--json', 'print the list as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/token.ts')).tokenList(opts, ctx));
  device
    .command('drain')
    .description('move every instance off a device: replacements first, its instances stop only once they are healthy')
    .argument('<ID>', 'the device')
    .requiredOption('-f, --file <FILE>', 'the fleet.yaml')
    .option('--state <DIR>', 'state directory')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys')
    .option('--timeout <S>', 'give up after this many seconds (nothing is stopped if the replacements are not healthy)', '600')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (id: string, opts: object) => (await import('./commands/device-drain.ts')).deviceDrain({ ...opts, id }, ctx));
  device
    .command('revoke')
    .description('cut a device off at once (NATS user and onion client key removed), then re-place its instances')
    .argument('<ID>', 'the device')
    .requiredOption('-f, --file <FILE>', 'the fleet.yaml')
    .option('--state <DIR>', 'state directory')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys')
    .option('--wait', 'wait until the fleet has converged without it')
    .option('--timeout <S>', 'with --wait: give up after this many seconds', '300')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (id: string, opts: object) => (await import('./commands/device-revoke.ts')).deviceRevoke({ ...opts, id }, ctx));

  const bundle = program.command('bundle').description("members' server bundles: signed, encrypted to each member");
  bundle
    .command('export')
    .description("write one signed, encrypted bundle per member of a group (DIR/<member>.age, 0600); exit 1 when an instance reports no address yet")
    .requiredOption('--group <G>', 'the group')
    .requiredOption('--out <DIR>', 'where to write the bundles')
    .requiredOption('-f, --file <FILE>', 'the fleet.yaml (groups and members)')
    .option('--state <DIR>', 'state directory')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys')
    .option('--member-passphrases <FILE>', '`member: passphrase` lines for passphrase members (others get a generated one, printed once)')
    .option('--qr <MODE>', 'QR codes of the addresses: png (DIR/<member>/qr/<instance>.png), terminal or none', 'none')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/bundle.ts')).bundleExport(opts, ctx));
  bundle
    .command('open')
    .description('decrypt a bundle, check its signature (pinned on first use) and print its servers; exit 2 when altered or foreign')
    .argument('<FILE>', 'the bundle (DIR/<member>.age)')
    .option('-i, --identity <FILE>', 'your age identity file (from age-keygen)')
    .option('--passphrase-file <FILE>', 'a file whose first line is your bundle passphrase')
    .option('--controller-key <FPR>', "the controller's fingerprint (SHA256:…) or key; default: the key pinned on first use")
    .option('--qr <MODE>', 'terminal: also draw each address as a QR code', 'none')
    .option('--json', 'print the servers as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (file: unknown, opts: unknown) => (await import('./commands/bundle.ts')).bundleOpen(file, opts, ctx));

  program
    .command('serve')
    .description('run the NATS server (JetStream, 127.0.0.1 only, one user per device) until Ctrl-C')
    .option('--state <DIR>', 'state directory')
    .option('--port <N>', 'client port on 127.0.0.1 (0: any free port)', '4222')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys')
    .option('--tor', "also run the controller's tor: NATS published as an onion service with per-device client authorization")
    .option('--tor-config <FILE>', 'with --tor: extra torrc lines (e.g. a private test network)')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/serve.ts')).serveCommand(opts, ctx));

  program
    .command('apply')
    .description('plan, compile, seal and publish desired states (exit 0, 1, 2, 3 infeasible, 4 unreachable)')
    .requiredOption('-f, --file <FILE>', 'the fleet.yaml')
    .option('--state <DIR>', 'state directory')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys')
    .option('--wait', 'wait until every device reports the new revision, healthy')
    .option('--timeout <S>', 'how long --wait waits, in seconds', '300')
    .option('--offline', 'write sealed desired states as files instead of publishing (needs --out)')
    .option('--out <DIR>', 'where --offline writes')
    .option('--json', 'print the result as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/apply.ts')).applyCommand(opts, ctx));

  program
    .command('status')
    .description('per device and per group: revisions, healthy instances, heartbeat, problems')
    .option('--state <DIR>', 'state directory')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys')
    .option('--watch', 'print again on every change')
    .option('--json', 'print the status as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/status.ts')).statusCommand(opts, ctx));

  program
    .command('probe')
    .description("connect to every instance's onion through Tor and check its pinned identity (exit 0 ok, 1 degraded or ALARM — wrong identity, see --json verdict —, 4 unreachable)")
    .option('--state <DIR>', 'state directory (the pins are kept in DIR/pins.json)')
    .option('--passphrase-file <FILE>', 'the passphrase of the private keys')
    .option('--socks <HOST:PORT>', "Tor's SOCKS port (default: the controller's tor from `serve --tor`, else 127.0.0.1:9050)")
    .option('--group <G>', 'only this group')
    .option('--timeout <S>', 'deadline per instance, in seconds', '60')
    .option('--json', 'print the report as JSON')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/probe.ts')).probeCommand(opts, ctx));

  program
    .command('demo')
    .description('the whole story on this machine: nats-server, 4 simulated Pis (agents; SimpleX test doubles), apply, status, bundles; stops it all on exit or Ctrl-C (130)')
    .option('--dir <DIR>', 'the demo directory (new or empty; default: a new temporary one)')
    .option('--tor', 'over a private Tor network on this machine: NATS as an onion with client authorization, a tor per Pi, then `probe` (a few minutes)')
    .option('--keep', 'leave everything running until Ctrl-C')
    .option('--force', 'reuse the directory of a previous demo (its files are deleted)')
    .option('--json', 'print the final summary as JSON (progress on stderr)')
    .option('--debug', 'print stack traces for errors')
    .action(async (opts: unknown) => (await import('./commands/demo.ts')).demoCommand(opts, ctx));

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
