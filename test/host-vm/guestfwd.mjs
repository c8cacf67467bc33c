// A guest-to-host forward of the host-VM harness (test/host-vm/host-vm.ts): qemu runs this once per
// connection the guest opens to one of its guestfwd addresses (`guestfwd=…-cmd:node guestfwd.mjs FILE`),
// with the connection as stdin/stdout. FILE names the host-side target, `HOST:PORT`, read at connect
// time: a test may point a forward at a service that starts after the guest booted. Without a target
// (no file yet) the connection is closed at once.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

let target;
try {
  target = readFileSync(process.argv[2], 'utf8').trim();
} catch {
  process.exit(1);
}
const at = target.lastIndexOf(':');
const socket = connect(Number(target.slice(at + 1)), target.slice(0, at));
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
process.stdin.on('end', () => socket.end());
