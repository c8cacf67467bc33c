/** The agent's entry point for the single-file build (deploy/build-agent.mjs): what runs on a Pi. */
import { main } from './main.ts';

process.exitCode = await main(process.argv);
