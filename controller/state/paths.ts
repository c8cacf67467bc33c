/** The controller's state directory: keys (0600), registered devices, the NATS server's files. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidInputError } from '#shared/errors.ts';

/**
 * `--state DIR`, else $ONIONFLEET_STATE, else ~/.local/share/onionfleet. An empty `--state` or
 * ONIONFLEET_STATE is refused (exit 2): it would mean the current directory, keys and all.
 */
export function stateDir(flag: string | undefined): string {
  if (flag !== undefined && flag.trim() === '') throw new InvalidInputError([{ source: '--state', message: 'is empty: name the state directory (default ~/.local/share/onionfleet)' }]);
  const env = process.env.ONIONFLEET_STATE;
  if (flag === undefined && env !== undefined && env.trim() === '') {
    throw new InvalidInputError([{ source: 'ONIONFLEET_STATE', message: 'is set but empty: unset it, or name the state directory' }]);
  }
  return resolve(flag ?? env ?? join(homedir(), '.local/share/onionfleet'));
}

export function statePaths(dir: string) {
  return {
    dir,
    /** Public identity: signing key, age recipient, NATS user (controller.json). */
    identity: join(dir, 'controller.json'),
    keys: join(dir, 'keys'),
    signingKey: join(dir, 'keys/signing.key'),
    ageIdentity: join(dir, 'keys/age.key'),
    natsSeed: join(dir, 'keys/nats.nk'),
    /** The admin's x25519 onion client key (a secret file) and its public half. */
    adminOnionKey: join(dir, 'keys/onion-client.key'),
    adminOnionPublicKey: join(dir, 'keys/onion-client.pub'),
    /** The NATS onion's ed25519 key (a secret file: tor gets a copy only while `serve --tor` runs) and its address. */
    natsOnionKey: join(dir, 'keys/nats-onion.key'),
    natsOnionHostname: join(dir, 'keys/nats-onion.hostname'),
    devices: join(dir, 'devices'),
    device: (id: string) => join(dir, 'devices', `${id}.json`),
    nats: join(dir, 'nats'),
    natsConfig: join(dir, 'nats/nats.conf'),
    natsStore: join(dir, 'nats/store'),
    natsLog: join(dir, 'nats/nats.log'),
    /** Written by `serve` while it runs: where to connect, and the server's pid for reloads. */
    natsRuntime: join(dir, 'nats/runtime.json'),
    /** The public nkey of the running `serve`'s gateway user (its seed never leaves that process). */
    natsGatewayUser: join(dir, 'nats/gateway.pub'),
    /** The controller's tor (`serve --tor`): its torrc, data dir and runtime file. */
    tor: join(dir, 'tor'),
    torrc: join(dir, 'tor/torrc'),
    torData: join(dir, 'tor/data'),
    torRuntime: join(dir, 'tor/runtime.json'),
    /** HiddenServiceDir of the NATS onion; `authorized_clients/<name>.auth` opens it to one client. */
    natsOnionDir: join(dir, 'tor/nats-onion'),
  } as const;
}
export type StatePaths = ReturnType<typeof statePaths>;
