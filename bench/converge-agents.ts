/**
 * A benchmark worker: many agents in one process, each with its own nkey connection, hearing its
 * desired state from `serve`'s gateway; on each document it does the agent's real checks (decrypt,
 * verify, parse) and reports a sealed status — with a no-op reconciler. Input: JSON on argv[2]; prints "ready" once
 * every agent watches, and the bytes it sent and received on exit (SIGTERM).
 */
import { open, seal } from '#shared/crypto/envelope.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { DeviceLink } from '#shared/nats/device-link.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { DeviceStatus } from '#shared/schema/status.ts';

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
let bytesIn = 0;
let bytesOut = 0;

async function runOne(a: AgentKeys): Promise<() => Promise<void>> {
  const nc = await connectNats({ servers: input.url, nkeySeed: a.natsSeed, name: a.device, timeoutMs: 30_000 });
  let link: DeviceLink | null = null;
  const report = async (revision: number, body: DesiredState | null) => {
    const doc: DeviceStatus = {
      kind: 'onionfleet/status', version: 1, device: a.device, desiredRevision: revision, appliedRevision: revision, converged: true, refused: null, error: null, blocked: [],
      instances: (body?.instances ?? []).map((i) => ({ id: i.id, kind: i.kind, group: i.group, service: 'active' as const, onion: null, fingerprint: null, address: null, probe: null, healthy: true })),
      observedAt: new Date().toISOString(), agentVersion: 'bench',
    };
    const sealed = await seal({ kind: 'status', device: a.device, revision, body: doc }, { signingSecretKey: a.signingSecretKey, recipient: input.controller.ageRecipient });
    bytesOut += sealed.byteLength;
    link?.sendStatus(sealed);
  };
  link = await DeviceLink.open(nc, a.device, (push) => {
    if (push.value === null) return;
    bytesIn += push.value.byteLength;
    void open(push.value, { identity: a.ageIdentity, signer: input.controller.signingKey, kind: 'desired-state', device: a.device, schema: DesiredState })
      .then((doc) => report(doc.revision, doc.body));
  });
  const opened = link;
  opened.requestDesired(null);
  return async () => {
    opened.close();
    await nc.close();
  };
}

const closers = await Promise.all(input.agents.map(runOne));
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void Promise.all(closers.map((c) => c())).finally(() => {
    process.stdout.write(`${JSON.stringify({ bytesIn, bytesOut })}\n`);
    process.exitCode = 0;
  });
});
