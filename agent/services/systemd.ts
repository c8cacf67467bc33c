import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { OperationFailedError } from '#shared/errors.ts';
import type { ServiceManager, ServiceSpec, ServiceState } from './service-manager.ts';

const run = promisify(execFile);

/** systemctl, for a Pi. The units' KillSignal=SIGINT makes stop save messages. */
export class SystemdManager implements ServiceManager {
  readonly kind = 'systemd';

  async state(name: string): Promise<ServiceState> {
    try {
      await run('systemctl', ['is-active', '--quiet', name]);
      return 'active';
    } catch {
      try {
        await run('systemctl', ['is-failed', '--quiet', name]);
        return 'failed';
      } catch {
        return 'inactive';
      }
    }
  }

  async start(spec: ServiceSpec): Promise<void> {
    await systemctl(['enable', '--now', spec.name]);
  }

  async restart(spec: ServiceSpec): Promise<void> {
    await systemctl(['restart', spec.name]);
  }

  async stop(name: string): Promise<void> {
    await systemctl(['disable', '--now', name]);
  }

  async daemonReload(): Promise<void> {
    await systemctl(['daemon-reload']);
  }
}

async function systemctl(args: string[]): Promise<void> {
  try {
    await run('systemctl', args, { timeout: 120_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim() ?? '';
    throw new OperationFailedError('systemctl-failed', `systemctl ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}
