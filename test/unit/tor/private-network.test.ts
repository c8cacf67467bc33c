/** PrivateTorNetwork refuses impossible shapes before it makes a key or starts a tor. */
import { describe, expect, it } from 'vitest';
import { PrivateTorNetwork } from '../../../controller/demo/private-tor/private-network.ts';
import { InvalidInputError } from '#shared/errors.ts';

describe('PrivateTorNetwork.start', () => {
  it('names every bad count, one problem each', async () => {
    const err = await PrivateTorNetwork.start({ dir: '/nonexistent/never-created', authorities: 0, relays: 2.5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).problems.map((p) => `${p.path ?? ''}: ${p.message}`)).toEqual([
      'authorities: expected an integer from 1 to 9',
      'relays: expected an integer from 1 to 20',
    ]);
  });
});
