/**
 * Port offsets for the simulated devices of the tests (each device's instances listen on
 * LOCAL_PORT_BASE + its offset + n). Test files run in parallel processes, so each fleet claims a
 * block of offsets of its own — a directory per block in the temp dir, holding the claimer's pid; a
 * dead claimer's block is taken over — and every block lies below the kernel's ephemeral port range,
 * where `auto` listeners and outgoing connections take their ports.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '#shared/os/live-process.ts';

/** Ports of one device. */
export const BAND = 100;
/** Devices of one block. */
const DEVICES_PER_BLOCK = 20;
/** Blocks of 2,000 offsets from 1,000: the highest port (xftp 18443 + 13,000 + a few) stays below 32768. */
const FIRST_OFFSET = 1_000;
const BLOCKS = 6;
const DIR = join(tmpdir(), 'onionfleet-test-port-blocks');

export interface PortBlock {
  /** The offset of the block's `i`th device (i < 20). */
  offset(i: number): number;
  /** Gives the block back (a block of a process that died is taken over anyway). */
  release(): void;
}

/** Claims a free block for this process. Throws when all are held by live processes. */
export function claimPortBlock(): PortBlock {
  mkdirSync(DIR, { recursive: true });
  const start = Math.floor(Math.random() * BLOCKS);
  for (let k = 0; k < BLOCKS; k++) {
    const block = (start + k) % BLOCKS;
    const claim = join(DIR, String(block));
    if (!take(claim)) continue;
    return {
      offset: (i) => {
        if (i >= DEVICES_PER_BLOCK) throw new Error(`a test fleet holds at most ${DEVICES_PER_BLOCK} devices`);
        return FIRST_OFFSET + block * DEVICES_PER_BLOCK * BAND + i * BAND;
      },
      release: () => { rmSync(claim, { recursive: true, force: true }); },
    };
  }
  throw new Error(`all ${BLOCKS} port blocks are held by running test processes (${DIR})`);
}

/** Creates `claim` for this pid; takes over one whose process is gone. */
function take(claim: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(claim);
      writeFileSync(join(claim, 'pid'), String(process.pid));
      return true;
    } catch {
      let text = '';
      try {
        text = readFileSync(join(claim, 'pid'), 'utf8');
      } catch {
        // not written yet
      }
      const owner = Number(text.trim());
      if (owner > 0 && pidAlive(owner)) return false;
      if (!Number.isInteger(owner) || owner === 0) return false; // being claimed this instant
      rmSync(claim, { recursive: true, force: true });
    }
  }
  return false;
}
