/** What tor's log lines say: why it exited early (real tor 0.4.9 lines), and which lines to show. */
import { describe, expect, it } from 'vitest';
import { classifyExit, isProgressLine } from '../../../controller/tor/tor-log.ts';

describe("tor's log", () => {
  it('tells a taken port from a refused config from any other exit', () => {
    expect(classifyExit(['[warn] Could not bind to 127.0.0.1:41711: Address already in use. Is Tor already running?', '[warn] Failed to parse/validate config: Failed to bind one of the listener ports.'])).toBe('tor-port-in-use');
    expect(classifyExit(["[warn] Failed to parse/validate config: Unknown option 'BogusOption'.  Failing.", '[err] Reading config failed--see warnings above.'])).toBe('tor-config-rejected');
    expect(classifyExit(['[notice] Catching signal TERM, exiting cleanly.'])).toBe('tor-exited');
  });

  it('shows bootstrap progress, warnings and errors only', () => {
    expect(isProgressLine('Nov 25 21:32:33.000 [notice] Bootstrapped 100% (done): Done')).toBe(true);
    expect(isProgressLine('Nov 25 21:26:33.290 [warn] Failed to parse/validate config')).toBe(true);
    expect(isProgressLine('Nov 25 21:26:33.290 [notice] Read configuration file "/x/torrc".')).toBe(false);
  });
});
