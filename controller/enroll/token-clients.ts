/** The NATS onion keys of join tokens still open (unused, unexpired): they may fetch its descriptor. */
import { liveTokens } from '../state/tokens.ts';
import type { StatePaths } from '../state/paths.ts';
import type { OnionClient } from './onion-clients.ts';

export async function openTokenClients(paths: StatePaths, now = new Date()): Promise<OnionClient[]> {
  return (await liveTokens(paths, now)).map((t) => ({ name: `token-${t.id}`, publicKey: t.onionClientKey }));
}
