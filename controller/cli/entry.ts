/** The controller's entry point for the bundled build (deploy/build.mjs): what an installed `onionfleet` runs. */
import { main } from './main.ts';

process.exitCode = await main(process.argv);
