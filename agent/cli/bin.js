#!/usr/bin/env node
// The `onionfleet-agent` command. In a checkout (main.ts beside this file) it runs the TypeScript sources
// through tsx's loader: a checkout needs only `npm ci`, and never runs a stale build. In an installed
// package (`npm pack` ships no .ts, see package.json "files") it runs the bundle deploy/build.mjs made.
import { existsSync } from 'node:fs';

if (existsSync(new URL('./main.ts', import.meta.url))) {
  const tsx = await import('tsx/esm/api').catch((err) => {
    process.stderr.write(`onionfleet-agent: running from a checkout needs its dev dependencies (run \`npm ci\`): ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
  tsx.register();
  const { main } = await import('./main.ts');
  process.exitCode = await main(process.argv);
} else {
  await import('../../deploy/dist/onionfleet-agent.mjs');
}
