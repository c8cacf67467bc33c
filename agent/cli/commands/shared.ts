/** What the agent's commands share: flags, the desired-state file, the managers for a config. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { open } from '#shared/crypto/envelope.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { loadAgentSecrets } from '../../identity.ts';
import { z } from 'zod';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { loadJson } from '#shared/fs/load-json.ts';
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

const AGE_MAGIC = 'age-encryption.org/v1';

/**
 * A desired state from a file: plain JSON (`onionfleet desired`), or sealed (`onionfleet apply
 * --offline`), which is opened with this device's keys and checked against the controller's key.
 */
export async function loadDesired(path: string, config?: ResolvedConfig): Promise<DesiredState> {
  const head = await readFile(path).then((b) => b.subarray(0, AGE_MAGIC.length).toString(), () => '');
  if (head !== AGE_MAGIC) return loadJson(path, DesiredState, 'a desired state');
  if (config?.controller === undefined || config.device === undefined) {
    throw new InvalidInputError([{ source: path, message: 'is sealed; the agent config needs "device" and "controller" to open it' }]);
  }
  const secrets = await loadAgentSecrets(join(config.root, config.keysDir));
  const { body } = await open(new Uint8Array(await readFile(path)), { identity: secrets.ageIdentity, signer: config.controller.signingKey, kind: 'desired-state', device: config.device, schema: DesiredState });
  return body;
}

export function managersFor(config: ResolvedConfig): { services: ServiceManager; system: SystemActions } {
  return {
    services: config.services === 'systemd' ? new SystemdManager() : new Supervisor(join(config.root, '/run/onionfleet')),
    system: config.system === 'host' ? hostSystem() : sandboxSystem(config.root, config.tor.pidFile === undefined ? {} : { torPidFile: config.tor.pidFile }),
  };
}
