/**
 * What each instance on the device looks like from the inside: its service, onion hostname,
 * identity (fingerprint file checked against ca.crt), the address members get, and a local TLS
 * identity probe. Used by `onionfleet-agent status` and, later, by the agent's status reports.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { caFingerprint, readFingerprintFile, simplexAddress } from '#shared/crypto/fingerprint.ts';
import type { DesiredInstance } from '#shared/schema/desired-state.ts';
import { probeIdentity, type IdentityProbe } from '#shared/probes/tls-identity.ts';
import { PATHS, serviceName } from '../render/paths.ts';
import type { ServiceManager, ServiceState } from '../services/service-manager.ts';

export interface InstanceHealth {
  readonly id: string;
  readonly kind: DesiredInstance['kind'];
  readonly group: string;
  readonly service: ServiceState;
  readonly onion: string | null;
  readonly fingerprint: string | null;
  /** False when the fingerprint file does not match ca.crt (the server would refuse to start). */
  readonly fingerprintMatchesCa: boolean;
  /** `smp://<fp>:<password>@<onion>`: a secret for members; never logged. */
  readonly address: string | null;
  readonly probe: IdentityProbe | null;
  readonly healthy: boolean;
}

/** Generous: a loaded Pi (or test machine) can take seconds for a TLS handshake with Ed448. */
const ONION_HOSTNAME = /^[a-z2-7]{56}\.onion$/;

const PROBE_TIMEOUT_MS = 10_000;

export async function instanceHealth(
  root: string,
  instance: DesiredInstance,
  services: ServiceManager,
  options: { probe: boolean },
): Promise<InstanceHealth> {
  const at = (p: string) => join(root, p);
  const cfg = PATHS.configDir(instance.kind, instance.id);
  const onion = ((await readFile(at(`${PATHS.onionDir(instance.id)}/hostname`), 'utf8').catch(() => '')).trim() || null);
  const fingerprint = readFingerprintFile(await readFile(at(`${cfg}/fingerprint`), 'utf8').catch(() => ''));
  const caPem = await readFile(at(`${cfg}/ca.crt`), 'utf8').catch(() => null);
  let fingerprintMatchesCa = false;
  try {
    fingerprintMatchesCa = fingerprint !== null && caPem !== null && caFingerprint(caPem) === fingerprint;
  } catch {
    fingerprintMatchesCa = false;
  }
  const service = await services.state(serviceName(instance.kind, instance.id));
  const address = fingerprint !== null && onion !== null && ONION_HOSTNAME.test(onion) ? simplexAddress(instance.kind, fingerprint, instance.password, onion) : null;
  const probe =
    options.probe && fingerprint !== null && service === 'active'
      ? await probeIdentity({ kind: instance.kind, fingerprint, host: '127.0.0.1', port: instance.localPort, timeoutMs: PROBE_TIMEOUT_MS })
      : null;
  const healthy = service === 'active' && fingerprintMatchesCa && onion !== null && (probe === null ? !options.probe : probe.identityOk && probe.helloOk);
  return { id: instance.id, kind: instance.kind, group: instance.group, service, onion, fingerprint, fingerprintMatchesCa, address, probe, healthy };
}
