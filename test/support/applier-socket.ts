/**
 * The root applier behind a UNIX socket as systemd runs it (onionfleet-apply.socket, Accept=yes): one
 * `onionfleet-agent applier` process per connection, the connection as its stdin and stdout, under the
 * unit's UMask=0077 (the view must still be readable by the agent's group). `close` stops the socket
 * and exactly the applier processes it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { BIN } from './cli.ts';

export interface ApplierSocket {
  close(): Promise<void>;
}

export async function applierSocket(socketPath: string, config: string): Promise<ApplierSocket> {
  const children = new Set<ChildProcess>();
  const server = createServer((conn) => {
    const child = spawn('sh', ['-c', 'umask 077 && exec "$0" "$@"', process.execPath, BIN.agent, 'applier', '--config', config], { stdio: [conn, conn, 'inherit'] });
    children.add(child);
    child.on('exit', () => {
      children.delete(child);
      conn.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    async close() {
      await new Promise((resolve) => server.close(resolve));
      for (const child of children) child.kill();
    },
  };
}
