#!/usr/bin/env node
// Builds the agent as one ESM file with esbuild: deploy/dist/onionfleet-agent.mjs (Node 20, no
// node_modules needed on the Pi). Usage: node deploy/build-agent.mjs [OUTFILE]
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const outfile = process.argv[2] ?? here('./dist/onionfleet-agent.mjs');
await build({
  entryPoints: [here('../agent/cli/entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  legalComments: 'none',
  logLevel: 'warning',
  // Some dependencies use require(); give the ESM bundle one.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __onionfleetRequire } from 'node:module'; const require = __onionfleetRequire(import.meta.url);" },
});
