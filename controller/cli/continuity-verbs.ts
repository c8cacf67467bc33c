/**
 * The verbs of member continuity (docs/continuity.md): `device lost`, `rotate`, `backup list|verify|export`.
 * Wired here, beside program.ts, so the device verbs there stay as they were.
 */
import type { Command } from 'commander';
import type { CliContext } from '#shared/cli/run-main.ts';
import { options } from './options.ts';

export function continuityVerbs(program: Command, ctx: CliContext): void {
  const device = program.commands.find((c) => c.name() === 'device') ?? program.command('device').description('enrolled devices');
  device
    .command('lost')
    .description('declare a dead device: its instances move at once, restored from their newest backups at the same addresses; reports each backup\'s age')
    .argument('<ID>', 'the device')
    .addOption(options.fleet())
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--wait', 'wait until the fleet has converged without it')
    .addOption(options.timeout('with --wait: give up after this many seconds', 300))
    .addOption(options.json())
    .action(async (id: string, opts: object) => (await import('./commands/device-lost.ts')).deviceLost({ ...opts, id }, ctx));

  program
    .command('rotate')
    .description('give an instance a new address; the old one keeps running as retiring until the date the bundle announces')
    .argument('<INSTANCE>', 'the instance, e.g. newsroom-smp-01')
    .addOption(options.fleet())
    .requiredOption('--retire-after <DURATION>', 'how long the old address keeps answering: 1m to 90d (s, m, h, d)')
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--wait', 'wait until its device has converged')
    .addOption(options.timeout('with --wait: give up after this many seconds', 300))
    .addOption(options.json())
    .action(async (instance: string, opts: object) => (await import('./commands/rotate.ts')).rotateCommand({ ...opts, instance }, ctx));

  const backup = program.command('backup').description('sealed backups of instance identities (docs/continuity.md)');
  backup
    .command('list')
    .description('every backup the controller holds: instance, device, epoch, age, store log, and whether it matches what the device reports')
    .addOption(options.state())
    .addOption(options.passphrase())
    .addOption(options.json('the list'))
    .action(async (opts: unknown) => (await import('./commands/backup-list.ts')).backupList(opts, ctx));
  backup
    .command('verify')
    .description('decrypt every backup with one key and check its signature and identity; exit 2 if any is refused')
    .option('--identity <KEYFILE>', 'an age identity file (an offline recipient\'s key); default: the controller\'s own')
    .option('--dir <DIR>', 'check a directory `backup export` wrote (needs --identity; no bus, no state)')
    .addOption(options.state())
    .addOption(options.passphrase())
    .addOption(options.json('the result'))
    .action(async (opts: unknown) => (await import('./commands/backup-verify.ts')).backupVerify(opts, ctx));
  backup
    .command('export')
    .description('write every sealed backup and the devices\' signing keys to a directory (for offline keeping)')
    .requiredOption('--out <DIR>', 'the directory (created; files 0600)')
    .addOption(options.state())
    .addOption(options.passphrase())
    .addOption(options.json('the summary'))
    .action(async (opts: unknown) => (await import('./commands/backup-export.ts')).backupExport(opts, ctx));
}
