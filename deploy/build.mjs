#!/usr/bin/env node
// Builds onionfleet's bundles with esbuild: plain ESM for Node 20 that needs no node_modules.
//   deploy/dist/onionfleet-agent.mjs        the agent as one file: what `device add --ssh` uploads to a
//                                           Pi, and what an installed `onionfleet-agent` runs
//   deploy/dist/controller/onionfleet.mjs   the controller, split in chunks (chunks/) so that each
//                                           command loads only its own code: what an installed
//                                           `onionfleet` runs
// A checkout never runs these: its bins run the TypeScript sources (controller/cli/bin.js).
// Usage: node deploy/build.mjs            both, into deploy/dist/ (`npm run build`, and before `npm pack`)
//        node deploy/build-agent.mjs [OUTFILE]   the agent alone (`npm run build:agent`)
import { build } from 'esbuild';
import { copyFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export const DIST = here('./dist/');
export const AGENT_BUNDLE = here('./dist/onionfleet-agent.mjs');
export const CONTROLLER_DIR = here('./dist/controller/');

// Some dependencies use require(), __dirname or __filename (ssh2); give each ESM output file its own.
const prelude = [
  "import { createRequire as __onionfleetRequire } from 'node:module';",
  "import { fileURLToPath as __onionfleetPath } from 'node:url';",
  'const require = __onionfleetRequire(import.meta.url);',
  'const __filename = __onionfleetPath(import.meta.url);',
  "const __dirname = __onionfleetPath(new URL('.', import.meta.url));",
].join(' ');

// ssh2's native add-ons (its crypto binding and cpu-features) are optional: it requires them inside
// try/catch and falls back to Node's crypto and its bundled WebAssembly. A bundle carries no .node
// files, so these requires throw, always, whatever node_modules lie around the bundle.
const noNativeAddons = {
  name: 'no-native-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$|^cpu-features$/ }, (args) => ({ path: args.path, namespace: 'no-native-addon' }));
    b.onLoad({ filter: /.*/, namespace: 'no-native-addon' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path}: native add-ons are not bundled`)});`,
      loader: 'js',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [noNativeAddons],
};

/** The agent as one executable file (Node 20; nothing else needed on the Pi). */
export async function buildAgent(outfile = AGENT_BUNDLE) {
  await build({
    ...common,
    entryPoints: [here('../agent/cli/entry.ts')],
    outfile,
    banner: { js: `#!/usr/bin/env node\n${prelude}` },
  });
}

/** The controller: `outdir`/onionfleet.mjs and its chunks (the directory is emptied first). */
export async function buildController(outdir = CONTROLLER_DIR) {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    ...common,
    entryPoints: { onionfleet: here('../controller/cli/entry.ts') },
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    banner: { js: prelude },
  });
  // The planner's exact core loads HiGHS's WebAssembly at run time (controller/solver/highs.ts).
  copyFileSync(createRequire(import.meta.url).resolve('highs/runtime'), `${outdir}/highs.wasm`);
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await Promise.all([buildAgent(), buildController()]);
}
