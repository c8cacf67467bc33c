/**
 * Where onionfleet's own files are: the directory holding its package.json, found from a module's
 * `import.meta.url`. Running from the TypeScript sources (a checkout) that is a few directories up
 * from the module; running from the bundles of an installed package (deploy/dist/…) it is as many
 * up from the bundle, whatever the module was. So files shipped beside the code (deploy/install-agent.sh,
 * the agent bundle, the bins) are found by `packageFile(import.meta.url, 'deploy/…')`, never by a
 * path relative to the module.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `name` in onionfleet's package.json. */
export const PACKAGE_NAME = 'onionfleet';

const roots = new Map<string, string>();

/**
 * The nearest directory at or above `from` (a module's `import.meta.url`, or a file path) whose
 * package.json is onionfleet's.
 * @throws {Error} when there is none (e.g. a bundle copied out of its package).
 */
export function packageRoot(from: string | URL): string {
  const start = dirname(from instanceof URL || from.startsWith('file:') ? fileURLToPath(from) : from);
  const known = roots.get(start);
  if (known !== undefined) return known;
  for (let dir = start; ; dir = dirname(dir)) {
    if (isOurs(join(dir, 'package.json'))) {
      roots.set(start, dir);
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} at or above ${start}`);
  }
}

/** `path` (relative, with `/`) inside onionfleet's package, found from `from` as in {@link packageRoot}. */
export function packageFile(from: string | URL, path: string): string {
  return join(packageRoot(from), ...path.split('/'));
}

function isOurs(file: string): boolean {
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof json === 'object' && json !== null && (json as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
}
