/** What the agent's commands share: flags, the desired-state file, the managers for a config. */
import { join } from 'node:path';
import { z } from 'zod';
import { DesiredState } from '../../../shared/schema/desired-state.ts';
import { loadJson } from '../../../shared/fs/load-json.ts';
import type { ResolvedConfig } from '../../config.ts';
import type { ServiceManager } from '../../services/service-manager.ts';
import { Supervisor } from '../../services/supervisor.ts';
import { SystemdManager } from '../../services/systemd.ts';
import { hostSystem, sandboxSystem, type SystemActions } from '../../system.ts';

/** `--root DIR` must be absolute after resolution; `--config FILE` optional. */
export const RootFlags = {
  root: z.string().min(1).optional(),
  config: z.string().min(1).optional(),
  json: z.boolean().default(false),
};

export function loadDesired(path: string): Promise<DesiredState> {
  return loadJson(path, DesiredState, 'a desired state');
}

export function managersFor(config: ResolvedConfig): { services: ServiceManager; system: SystemActions } {
  return {
    services: config.services === 'systemd' ? new SystemdManager() : new Supervisor(join(config.root, '/run/onionfleet')),
    system: config.system === 'host' ? hostSystem() : sandboxSystem(config.root),
  };
}
