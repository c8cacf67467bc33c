/**
 * A client of the XFTP double's file store (test/doubles/simplex-double-files.mjs): TLS as a SimpleX
 * client speaks it (ALPN xftp/1, no SNI), HTTP/2 `POST /` with `DOUBLE …` lines as the body, one
 * answer line per line. Test support only: the real server has no such commands.
 */
import http2 from 'node:http2';
import tls from 'node:tls';

/** Sends `lines` in one request and resolves with the answers (deadline `timeoutMs`). */
export async function fileCommands(target: { readonly host: string; readonly port: number }, lines: readonly string[], timeoutMs = 60_000): Promise<string[]> {
  const socket = tls.connect({ host: target.host, port: target.port, ALPNProtocols: ['xftp/1'], rejectUnauthorized: false, minVersion: 'TLSv1.2' });
  const session = http2.connect('https://xftp.invalid', { createConnection: () => socket });
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no answer from the XFTP double within ${timeoutMs} ms`)); }, timeoutMs);
      const fail = (err: Error) => { clearTimeout(timer); reject(err); };
      session.once('error', fail);
      const request = session.request({ ':method': 'POST', ':path': '/' });
      request.once('error', fail);
      let status = 0;
      const chunks: Buffer[] = [];
      request.once('response', (headers) => { status = Number(headers[':status']); });
      request.on('data', (chunk: Buffer) => { chunks.push(chunk); });
      request.once('end', () => {
        clearTimeout(timer);
        if (status !== 200) reject(new Error(`HTTP/2 status ${status}`));
        else resolve(Buffer.concat(chunks).toString('latin1').split('\n').slice(0, lines.length));
      });
      request.end(lines.map((l) => `${l}\n`).join(''));
    });
  } finally {
    session.destroy();
    socket.destroy();
  }
}

/** Puts one file of `size` random bytes; resolves with its sender id and SHA-256 (hex). */
export async function putFile(target: { readonly host: string; readonly port: number }, size: number): Promise<{ id: string; sha256: string }> {
  const [answer = ''] = await fileCommands(target, [`DOUBLE PUT ${size}`]);
  const [id = '', sha256 = ''] = answer.split(' ');
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`DOUBLE PUT: unexpected answer ${answer}`);
  return { id, sha256 };
}
