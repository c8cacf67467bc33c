/** The controller's state directory: keys (0600), registered devices, the NATS server's files. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `--state DIR`, else $ONIONFLEET_STATE, else ~/.local/share/onionfleet. */
export function stateDir(flag: string | undefined): string {
  return resolve(flag ?? process.env.ONIONFLEET_STATE ?? join(homedir(), '.local/share/onionfleet'));
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
