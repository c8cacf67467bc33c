import { createServer } from 'node:net';
import { InternalError } from '../errors.ts';

/** A TCP port that was free on 127.0.0.1 a moment ago (for `serve --port 0`). */
export async function freeLoopbackPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === 'string') throw new InternalError('the port-0 listener reported no TCP port');
  return address.port;
}
