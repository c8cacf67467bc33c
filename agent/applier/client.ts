/**
 * The agent's side of the privilege split: an {@link Applier} that sends each privileged request to
 * the root applier's socket and waits for its one-line answer. `onionfleet-agent run --applier SOCKET`
 * uses it (the systemd unit); without the flag the agent does the same work in its own process
 * (sandbox roots, the tests, the demo).
 */
import { connect } from 'node:net';
import { OperationFailedError } from '#shared/errors.ts';
import type { Logger } from '#shared/log.ts';
import { parseJsonText } from '#shared/fs/load-json.ts';
import type { StoreLogDownload } from '#shared/schema/store-log-download.ts';
import type { LastAttempt } from '../status/report.ts';
import { ApplierAnswer, MAX_REQUEST_BYTES, type ApplierRequest } from './protocol.ts';

export interface Applier {
  /** Makes the device's tor able to open the controller's NATS onion; resolves true when anything changed. */
  prepareTor(): Promise<boolean>;
  /** Applies a sealed desired state exactly as the bus delivered it. */
  apply(sealed: Uint8Array, options?: { rebase?: boolean }): Promise<ApplierAnswer>;
  /** The guard saw `revision` healthy: the applier notes what it applied at that revision as its last good state. */
  good(revision: number): Promise<ApplierAnswer>;
  /** Goes back to the last good state the applier noted, which must be revision `to`. */
  revert(to: number): Promise<ApplierAnswer>;
  /** No apply: the backups that are due, and a fresh view (metrics files included). */
  refresh(options?: { rebase?: boolean }): Promise<ApplierAnswer>;
  /** The boot hold's fallback: the applier releases the held instances whose holdAtBoot of uptime ran out. */
  release(): Promise<ApplierAnswer>;
  /** Stages one sealed part of `download` (the applier opens it); answers `staged`. */
  stage(sealed: Uint8Array, download: StoreLogDownload): Promise<ApplierAnswer>;
  /** Which of `downloads` are whole among the staged parts; answers `staged`. */
  staged(downloads: readonly StoreLogDownload[]): Promise<ApplierAnswer>;
  /** The root below which the status reads what the applier published (its view). */
  readonly statusRoot: string;
  /** The root below which the agent keeps its own bookkeeping (the guard's files); the agent may write there. */
  readonly stateRoot: string;
}

/**
 * A heartbeat with nothing new asks the applier for a full round only this often (each request starts
 * a process that observes the whole device: seconds on a Pi). In between, a no-op heartbeat skips it
 * while the last round converged and the status is healthy; a service stopped by hand shows in the
 * status and is repaired at the next heartbeat, a file edited by hand within this time.
 */
export const REPAIR_EVERY_SECONDS = 600;

/** Where the agent keeps its bookkeeping under systemd (StateDirectory=onionfleet/agent, the agent's own). */
export const AGENT_STATE_DIR = '/var/lib/onionfleet/agent';

/** A deadline for one request: a cold apply on a slow Pi downloads and initialises servers. */
const REQUEST_DEADLINE_MS = 30 * 60_000;

export function socketApplier(socketPath: string, statusRoot: string, stateRoot: string): Applier {
  return {
    statusRoot,
    stateRoot,
    good: (revision) => ask(socketPath, { op: 'good', revision }),
    revert: (to) => ask(socketPath, { op: 'revert', to }),
    refresh: (options) => ask(socketPath, { op: 'refresh', ...(options?.rebase === true ? { rebase: true } : {}) }),
    release: () => ask(socketPath, { op: 'release' }),
    stage: (sealed, download) => ask(socketPath, { op: 'stage', sealed: Buffer.from(sealed).toString('base64'), download }),
    staged: (downloads) => ask(socketPath, { op: 'staged', downloads: [...downloads] }),
    async prepareTor() {
      const answer = await ask(socketPath, { op: 'prepare-tor' });
      if (answer.kind === 'prepared') return answer.changed;
      throw new OperationFailedError('system-command-failed', `the applier could not prepare tor: ${answer.kind === 'failed' || answer.kind === 'rejected' ? answer.message : answer.kind}`);
    },
    apply: (sealed, options) => ask(socketPath, { op: 'apply', sealed: Buffer.from(sealed).toString('base64'), ...(options?.rebase === true ? { rebase: true } : {}) }),
  };
}

/** One request, one answer, one connection. */
export function ask(socketPath: string, request: ApplierRequest): Promise<ApplierAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let received = '';
    let settled = false;
    const finish = (err: Error | null, answer?: ApplierAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== null) reject(err);
      else if (answer !== undefined) resolve(answer);
    };
    const timer = setTimeout(() => {
      finish(new OperationFailedError('system-command-failed', `the applier (${socketPath}) did not answer within ${REQUEST_DEADLINE_MS / 60_000} minutes`));
    }, REQUEST_DEADLINE_MS);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\n');
      if (end >= 0) {
        try {
          finish(null, parseJsonText(received.slice(0, end), `the applier's answer (${socketPath})`, ApplierAnswer, 'an applier answer'));
        } catch (err) {
          finish(err as Error);
        }
      } else if (received.length > MAX_REQUEST_BYTES) {
        finish(new OperationFailedError('system-command-failed', `the applier's answer (${socketPath}) is too long`));
      }
    });
    socket.on('error', (err) => {
      finish(new OperationFailedError('system-command-failed', `cannot reach the applier at ${socketPath}: ${err.message}`, { cause: err }));
    });
    socket.on('close', () => {
      finish(new OperationFailedError('system-command-failed', `the applier (${socketPath}) closed the connection without an answer (see journalctl -u 'onionfleet-apply@*')`));
    });
  });
}

/**
 * What the agent's run loop does with an applier's answer: the attempt its status reports, and the
 * same log lines an in-process apply writes.
 */
export function attemptOf(answer: ApplierAnswer, last: LastAttempt, log: Logger): LastAttempt {
  switch (answer.kind) {
    case 'applied': {
      const { revision, refused } = answer;
      if (refused !== null) log.warn({ revision, reasons: refused }, `refused revision ${revision}: the owner's limits`);
      else if (answer.steps.length > 0 && answer.converged) log.info({ revision, steps: answer.steps.length }, `converged on revision ${revision} (${answer.steps.length} steps)`);
      else if (!answer.converged) log.warn({ revision, blocked: answer.blocked }, `not converged on revision ${revision}`);
      return { desiredRevision: revision, error: null, blocked: answer.blocked, converged: answer.converged && refused === null };
    }
    case 'rejected':
      // The last good state keeps running; the applier recorded why (the status's `refused`).
      log.warn({ reason: answer.reason }, `refused a desired state: ${answer.reason}`);
      return last;
    case 'failed':
      log.error({ revision: last.desiredRevision }, `apply failed: ${answer.message}`);
      return { ...last, error: answer.message, converged: false };
    case 'prepared':
    case 'staged':
    case 'noted':
    case 'refreshed':
      return last;
  }
}
