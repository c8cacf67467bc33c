#!/usr/bin/env node
// Builds the agent as one ESM file with esbuild: deploy/dist/onionfleet-agent.mjs (Node 20, no
// node_modules needed on the Pi). Usage: node deploy/build-agent.mjs [OUTFILE]
// deploy/build.mjs builds it and the controller (`npm run build`).
import { buildAgent } from './build.mjs';

await buildAgent(process.argv[2]);
