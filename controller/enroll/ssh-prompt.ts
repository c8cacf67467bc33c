/** Trust on first use, on a terminal: show an unpinned host key's fingerprint and ask y/N. */
import { createInterface } from 'node:readline/promises';
import type { ConfirmHostKey } from './ssh-session.ts';

/**
 * A {@link ConfirmHostKey} that asks on stderr and reads stdin, or null when either is not a
 * terminal (the caller then refuses an unpinned key with exit 2). Only `y` or `yes` accepts.
 */
export function terminalConfirm(): ConfirmHostKey | null {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return null;
  return async (where, fingerprint, keyType) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(
        `The host key of ${where} is not pinned:\n  ${keyType} ${fingerprint}\n` +
          'Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the device. Trust it? [y/N] ',
      );
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  };
}
