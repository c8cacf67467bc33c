#!/usr/bin/env node
// The `onionfleet` command: runs the TypeScript sources through tsx's loader, so a checkout needs
// only `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv);
