/**
 * A benchmark worker: many agents in one process, each with its own nkey connection, watching its
 * own desired key; on each document it does the agent's real checks (decrypt, verify, parse) and
 * reports a sealed status — with a no-op reconciler. Input: JSON on argv[2]; prints "ready" once
 * every agent watches, and the bytes it sent and received on exit (SIGTERM).
 */
import { setMaxListeners } from 'node:events';
import { open, seal } from '../shared/crypto/envelope.ts';
import { connectNats } from '../shared/nats/connect.ts';
import { openDesired, openStatus, watchKey } from '../shared/nats/kv.ts';
import { inboxPrefix } from '../shared/nats/names.ts';
import { DesiredState } from '../shared/schema/desired-state.ts';
import type { DeviceStatus } from '../shared/schema/status.ts';

interface AgentKeys {
  device: string;
  signingSecretKey: string;
  ageIdentity: string;
  natsSeed: string;
}
interface Input {
  url: string;
  controller: { signingKey: string; ageRecipient: string };
  agents: AgentKeys[];
}

const input = JSON.parse(process.argv[2] ?? '{}') as Input;
const abort = new AbortController();
setMaxListeners(0, abort.signal); // one watcher per agent shares it
let bytesIn = 0;
let bytesOut = 0;

async function runOne(a: AgentKeys): Promise<() => Promise<void>> {
  const nc = await connectNats({ servers: input.url, nkeySeed: a.natsSeed, name: a.device, inboxPrefix: inboxPrefix(a.device), timeoutMs: 30_000 });
  const desired = await openDesired(nc, { create: false });
  const status = await openStatus(nc, { create: false });
  const report = async (revision: number, body: DesiredState | null) => {
    const doc: DeviceStatus = {
      kind: 'onionfleet/status', version: 1, device: a.device, desiredRevision: revision, appliedRevision: revision, converged: true, refused: null, error: null, blocked: [],
      instances: (body?.instances ?? []).map((i) => ({ id: i.id, kind: i.kind, group: i.group, service: 'active' as const, onion: null, fingerprint: null, address: null, probe: null, healthy: true })),
      observedAt: new Date().toISOString(), agentVersion: 'bench',
    };
    const sealed = await seal({ kind: 'status', device: a.device, revision, body: doc }, { signingSecretKey: a.signingSecretKey, recipient: input.controller.ageRecipient });
    bytesOut += sealed.byteLength;
    await status.put(a.device, sealed);
  };
  const watching = watchKey(desired, a.device, (change) => {
    if (change.value === null) return;
    bytesIn += change.value.byteLength;
    void open(change.value, { identity: a.ageIdentity, signer: input.controller.signingKey, kind: 'desired-state', device: a.device, schema: DesiredState })
      .then((doc) => report(doc.revision, doc.body));
  }, abort.signal);
  return async () => {
    await watching;
    await nc.close();
  };
}

const closers = await Promise.all(input.agents.map(runOne));
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  abort.abort();
  void Promise.all(closers.map((c) => c())).finally(() => {
    process.stdout.write(`${JSON.stringify({ bytesIn, bytesOut })}\n`);
    process.exitCode = 0;
  });
});
