// Starts one TorProcess (controller/tor/tor-process.ts) in this process, prints its runtime as one
// JSON line, and idles until killed: the test of tor exiting when the Node process that owns it dies.
// Usage: node tor-child.mjs DIR [TORRC LINE…]
import { register } from 'tsx/esm/api';

register();
const { TorProcess } = await import('../../controller/tor/tor-process.ts');
const [dir, ...lines] = process.argv.slice(2);
const tor = await TorProcess.start({ name: 'child', dir, lines, waitForBootstrap: false });
process.stdout.write(`${JSON.stringify(tor.runtime())}\n`);
setInterval(() => undefined, 60_000);
