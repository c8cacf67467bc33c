/**
 * File ownership on a device: tor must own its onion directories (AppArmor and tor's own checks),
 * the servers run as `simplex` and must read their 0600 ini. In a sandbox root nothing is chowned.
 */
import { execFile } from 'node:child_process';
import { chown, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OperationFailedError } from '#shared/errors.ts';

const run = promisify(execFile);

export type Account = 'debian-tor' | 'simplex';

export interface Owners {
  /** chown `path` (and, with `recursive`, everything below it) to `account`. */
  give(path: string, account: Account, options?: { recursive?: boolean }): Promise<void>;
}

export const noOwners: Owners = { give: () => Promise.resolve() };

/** Real chown, with uid/gid looked up once per account; a missing account is an error that says how to fix it. */
export function hostOwners(): Owners {
  const ids = new Map<Account, Promise<{ uid: number; gid: number }>>();
  const lookup = (account: Account) => {
    let found = ids.get(account);
    if (found === undefined) {
      found = Promise.all([run('id', ['-u', account]), run('id', ['-g', account])])
        .then(([u, g]) => ({ uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) }))
        .catch((err: unknown) => {
          throw new OperationFailedError('account-missing', `the account "${account}" does not exist on this device`, {
            cause: err,
            hint: account === 'debian-tor' ? 'install tor (apt-get install tor)' : 'run the agent installer, which creates it',
          });
        });
      ids.set(account, found);
    }
    return found;
  };
  const walk = async (path: string, uid: number, gid: number): Promise<void> => {
    await chown(path, uid, gid);
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await walk(join(path, entry.name), uid, gid);
      else await chown(join(path, entry.name), uid, gid);
    }
  };
  return {
    async give(path, account, options = {}) {
      const { uid, gid } = await lookup(account);
      if (options.recursive === true) await walk(path, uid, gid);
      else await chown(path, uid, gid);
    },
  };
}
