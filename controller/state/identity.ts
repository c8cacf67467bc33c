/** The controller's public identity (`controller.json`): its signing key, age recipient and NATS user. */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { InvalidInputError } from '#shared/errors.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { AgeRecipient } from '#shared/schema/common.ts';
import { NatsUserKey, SigningPublicKey } from '#shared/schema/enrollment.ts';
import type { StatePaths } from './paths.ts';

export const ControllerIdentity = z.strictObject({
  kind: z.literal('onionfleet/controller'),
  version: z.literal(1),
  signingKey: SigningPublicKey,
  ageRecipient: AgeRecipient,
  natsUser: NatsUserKey,
});
export type ControllerIdentity = z.infer<typeof ControllerIdentity>;

/** The public identity; exit 2 with a hint when the state was never initialized. */
export async function loadIdentity(paths: StatePaths): Promise<ControllerIdentity> {
  try {
    await readFile(paths.identity);
  } catch (err) {
    throw new InvalidInputError([{ source: paths.dir, message: 'no controller state here' }], { cause: err, hint: 'run `onionfleet init` first (or pass --state DIR)' });
  }
  return loadJson(paths.identity, ControllerIdentity, 'a controller identity');
}
