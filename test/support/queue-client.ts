/**
 * A client of the SMP double's queue store (test/doubles/simplex-double-store.mjs): TLS as a
 * SimpleX client speaks it (ALPN smp/1, no SNI), read the 16384-byte hello, then one `DOUBLE …`
 * line and its one-line answer per command. Over a local port or any socket (a SOCKS tunnel to an
 * onion). Test support only: the real server has no such commands.
 */
import net from 'node:net';
import tls from 'node:tls';
import { HELLO_BLOCK_SIZE } from '#shared/probes/tls-identity.ts';

export type QueueTarget = { readonly host: string; readonly port: number } | { readonly connect: () => Promise<net.Socket> };

/** Sends each line in order on one connection and resolves with the answers (deadline `timeoutMs`). */
export async function queueCommands(target: QueueTarget, lines: readonly string[], timeoutMs = 60_000): Promise<string[]> {
  const raw = 'connect' in target ? await target.connect() : undefined;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      ...(raw === undefined && !('connect' in target) ? { host: target.host, port: target.port } : { socket: raw }),
      ALPNProtocols: ['smp/1'], rejectUnauthorized: false, minVersion: 'TLSv1.2',
    });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer from the SMP double within ${timeoutMs} ms`)); }, timeoutMs);
    let buffered = Buffer.alloc(0);
    let helloSeen = false;
    const answers: string[] = [];
    socket.on('error', (err: Error) => { clearTimeout(timer); reject(err); });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!helloSeen) {
        if (buffered.length < HELLO_BLOCK_SIZE) return;
        buffered = buffered.subarray(HELLO_BLOCK_SIZE);
        helloSeen = true;
        socket.write(lines.map((l) => `${l}\n`).join(''));
      }
      let nl: number;
      while ((nl = buffered.indexOf(0x0a)) >= 0) {
        answers.push(buffered.subarray(0, nl).toString('latin1'));
        buffered = buffered.subarray(nl + 1);
      }
      if (answers.length >= lines.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(answers);
      }
    });
  });
}
