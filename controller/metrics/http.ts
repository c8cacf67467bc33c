/**
 * A small HTTP server on 127.0.0.1 only: routes by path, answers 404 otherwise, and (with a token)
 * refuses with 403 every request whose `?token=` does not match. A request whose Host header is not
 * 127.0.0.1 or localhost is refused (421) too, so a web page cannot reach it by DNS rebinding.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';

export type Route = (url: URL) => Promise<{ status?: number; type: string; body: string } | null>;

export interface LoopbackServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (0: any free port). */
export function serveLoopback(port: number, route: Route, options: { token?: string; onError?: (err: unknown) => void } = {}): Promise<LoopbackServer> {
  const server = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (host !== '127.0.0.1' && host !== 'localhost') {
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end('misdirected request: use http://127.0.0.1:<port>/\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (options.token !== undefined && !tokenMatches(url.searchParams.get('token'), options.token)) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('forbidden: open the URL onionfleet printed (it carries the token)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    route(url).then((answer) => {
      if (answer === null) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
        return;
      }
      res.writeHead(answer.status ?? 200, {
        'content-type': answer.type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        'referrer-policy': 'no-referrer',
      }).end(req.method === 'HEAD' ? undefined : answer.body);
    }, (err: unknown) => {
      options.onError?.(err);
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error (see the log)\n');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address !== null ? address.port : port,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => { done(); }); }),
      });
    });
  });
}

function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
