/**
 * Reloading tor and sshd and loading the firewall. On a Pi ("host") these act on the system; in a
 * sandbox root (tests, the demo) the firewall is checked with `nft -c` and the reloads are only
 * recorded, since the rendered files name real system paths.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OperationFailedError } from '#shared/errors.ts';

const run = promisify(execFile);

export interface SystemActions {
  reloadTor(): Promise<void>;
  /** Whether the tor that serves this device's onions runs (a reload that failed leaves it stopped). */
  torRunning(): Promise<boolean>;
  applyFirewall(path: string): Promise<void>;
  reloadSshd(path: string | null): Promise<void>;
}

export function hostSystem(): SystemActions {
  return {
    async reloadTor() {
      // Enabled too: the device's onions, and its way to the controller, must come back after a reboot
      // even where tor was installed disabled. Debian's enable also runs the SysV script's update-rc.d,
      // which takes half a minute on a slow device: only when needed, with time to spare.
      if (!(await succeeds('systemctl', ['is-enabled', '--quiet', 'tor.service']))) await exec('systemctl', ['enable', 'tor.service'], 300_000);
      await exec('systemctl', ['reload-or-restart', 'tor']);
    },
    torRunning: () => succeeds('systemctl', ['is-active', '--quiet', 'tor@default.service']),
    async applyFirewall() {
      // The unit loads the rules file; instance units require it, so it runs before any server.
      await exec('systemctl', ['enable', 'onionfleet-firewall.service']);
      await exec('systemctl', ['reload-or-restart', 'onionfleet-firewall.service']);
    },
    async reloadSshd() {
      await exec('sshd', ['-t']);
      await exec('systemctl', ['reload', 'ssh']);
    },
  };
}

/**
 * Sandbox: validate what can be validated in place, reload nothing — except a tor that serves this
 * root's onions (tests, the demo), named by its pid file: it gets SIGHUP, as `systemctl reload tor` would
 * send on a Pi.
 */
export function sandboxSystem(root: string, options: { readonly torPidFile?: string } = {}): SystemActions {
  return {
    reloadTor: async () => {
      if (options.torPidFile === undefined) return;
      const text = await readFile(options.torPidFile, 'utf8').catch((err: unknown) => {
        throw new OperationFailedError('tor-not-running', `cannot read tor's pid file ${options.torPidFile ?? ''}`, { cause: err });
      });
      const pid = Number(text.trim());
      if (!Number.isInteger(pid) || pid <= 1) throw new OperationFailedError('tor-not-running', `tor's pid file ${options.torPidFile ?? ''} holds no pid`);
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        throw new OperationFailedError('tor-not-running', `tor (pid ${pid}) is not running`, { cause: err });
      }
    },
    async torRunning() {
      if (options.torPidFile === undefined) return true;
      const pid = Number((await readFile(options.torPidFile, 'utf8').catch(() => '')).trim());
      if (!Number.isInteger(pid) || pid <= 1) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    applyFirewall: (path) => exec('nft', ['-c', '-f', join(root, path)]),
    reloadSshd: () => Promise.resolve(),
  };
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

async function exec(cmd: string, args: string[], timeout = 120_000): Promise<void> {
  try {
    await run(cmd, args, { timeout });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim() ?? '';
    throw new OperationFailedError('system-command-failed', `${cmd} ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}
