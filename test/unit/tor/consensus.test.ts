/** Router entries of a consensus (a real `GETINFO ns/all` from the private network) and what is missing. */
import { describe, expect, it } from 'vitest';
import { consensusEntries, missingFromConsensus } from '../../../controller/demo/private-tor/consensus.ts';

const NS_ALL = `r auth3 CeG2XiN9Fp8L+2AW1GecsujPaqM FWPHbuf5sTVfVrsEJTH4Qx/wWZA 2038-01-01 00:00:00 127.0.0.1 35349 37821
s Authority Exit Fast Guard HSDir Running Stable V2Dir Valid
w Bandwidth=5
r relay1 DKVFYOz8hAF+3mKacqQ8dsEv9xk DVxqMujAP83n6uLjNpRRVFpRMVw 2038-01-01 00:00:00 127.0.0.1 37455 0
s Exit Fast Guard HSDir Running V2Dir Valid
w Bandwidth=0
r relay2 3INLddnEBwLmkCwbqL4xSG0fmOg 4LraVIaevmbhJlLX5c9CcagR+C8 2038-01-01 00:00:00 127.0.0.1 43559 0
s Fast Running V2Dir
w Bandwidth=0`;

describe('consensusEntries', () => {
  it('pairs each router with the flags of its s line', () => {
    const entries = consensusEntries(NS_ALL);
    expect(entries.map((e) => e.nickname)).toEqual(['auth3', 'relay1', 'relay2']);
    expect(entries[1]?.flags).toEqual(['Exit', 'Fast', 'Guard', 'HSDir', 'Running', 'V2Dir', 'Valid']);
  });

  it('names the nodes not yet listed with every flag wanted, in the order asked', () => {
    const entries = consensusEntries(NS_ALL);
    expect(missingFromConsensus(entries, ['relay3', 'relay2', 'relay1', 'auth3'], ['Running', 'Valid', 'HSDir'])).toEqual(['relay3', 'relay2']);
    expect(missingFromConsensus(entries, ['relay1'], [])).toEqual([]);
    expect(missingFromConsensus([], ['auth1'], [])).toEqual(['auth1']);
  });
});
