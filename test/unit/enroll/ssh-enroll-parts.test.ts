/**
 * The pieces of `device add --ssh` that need no connection: the flag parsers, the agent config the
 * controller writes (an operator's own settings survive), the device probe's answers, and the step
 * runner's rollback (newest first, including the failing step's own undo, going on past a failing undo).
 */
import { describe, expect, it } from 'vitest';
import { agentConfig, parseFacts, remoteLayout, sh } from '../../../controller/enroll/ssh-remote.ts';
import { runSteps, type Step } from '../../../controller/enroll/ssh-steps.ts';
import { describeEndpoint, hostKeyFingerprint, hostKeyType, parseHostKeyPin, parseHostPort, parseSshTarget } from '../../../controller/enroll/ssh-target.ts';

describe('flag parsers', () => {
  it('reads USER@HOST[:PORT], with IPv6 in brackets and port 22 by default', () => {
    expect(parseSshTarget('root@pi.local')).toEqual({ user: 'root', host: 'pi.local', port: 22 });
    expect(parseSshTarget('pi@[::1]:2222')).toEqual({ user: 'pi', host: '::1', port: 2222 });
    for (const bad of ['pi.local', 'root@', 'root@pi:0', 'root@pi:70000', 'root@pi;rm', 'Root@pi']) expect(parseSshTarget(bad), bad).toBeNull();
    expect(parseHostPort('127.0.0.1:9050')).toEqual({ host: '127.0.0.1', port: 9050 });
    expect(parseHostPort('127.0.0.1')).toBeNull();
  });

  it('pins SHA256 fingerprints as OpenSSH prints them (a trailing = is dropped), nothing else', () => {
    const fp = `SHA256:${'a'.repeat(42)}Q`;
    expect(parseHostKeyPin(fp)).toBe(fp);
    expect(parseHostKeyPin(`${fp}=`)).toBe(fp);
    expect(parseHostKeyPin(`MD5:${'a'.repeat(43)}`)).toBeNull();
    expect(parseHostKeyPin('SHA256:short')).toBeNull();
  });

  it('fingerprints a key blob like OpenSSH (base64 of SHA-256, unpadded) and reads its type', () => {
    const blob = new Uint8Array([0, 0, 0, 11, ...new TextEncoder().encode('ssh-ed25519'), 0, 0, 0, 32, ...new Uint8Array(32)]);
    expect(hostKeyFingerprint(blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(hostKeyType(blob)).toBe('ssh-ed25519');
    expect(hostKeyType(new Uint8Array([0, 0]))).toBe('unknown');
  });

  it('never names an onion address in messages', () => {
    expect(describeEndpoint({ user: 'root', host: `${'a'.repeat(56)}.onion`, port: 22 })).toBe('root@<onion address>:22');
    expect(describeEndpoint({ user: 'pi', host: '::1', port: 22 })).toBe('pi@[::1]:22');
  });
});

describe('the device side', () => {
  it('places every path below a sandbox root, and at / on a Pi', () => {
    expect(remoteLayout('/').config).toBe('/etc/onionfleet/agent.json');
    expect(remoteLayout('/tmp/r/').bin).toBe('/tmp/r/usr/local/bin/onionfleet-agent');
    expect(sh("it's")).toBe(String.raw`'it'\''s'`);
  });

  it("sets the controller's part of the agent config and keeps the operator's own settings", () => {
    const previous = { root: '/', device: 'old', limits: { maxInstances: 2 }, nats: { url: 'nats://x:1', socks: '127.0.0.1:9150' }, heartbeatSeconds: 60 };
    const config = agentConfig(previous, { root: '/', device: 'pi-1', controller: { signingKey: 'ed25519:k', ageRecipient: 'age1r' }, natsUrl: 'nats://y.onion:4222' });
    expect(config).toEqual({
      root: '/', device: 'pi-1', limits: { maxInstances: 2 }, heartbeatSeconds: 60,
      controller: { signingKey: 'ed25519:k', ageRecipient: 'age1r' },
      nats: { url: 'nats://y.onion:4222', socks: '127.0.0.1:9150' }, tor: { socks: '127.0.0.1:9050' },
    });
  });

  it("reads the probe's answers, the existing config verbatim", () => {
    const facts = parseFacts('uid=0\nnode=/usr/bin/node\nversion=v20.19.0\ninstalled=1\n--- agent.json ---\n{"a": "x=y"}\n');
    expect(facts).toEqual({ uid: 0, node: '/usr/bin/node', nodeMajor: 20, installed: true, keys: false, config: '{"a": "x=y"}\n' });
    expect(parseFacts('uid=1000\nnode=\n')).toMatchObject({ node: null, nodeMajor: null, config: null });
  });
});

describe('runSteps', () => {
  it('on a failure undoes the failing step and every earlier one, newest first, past a failing undo, and rethrows', async () => {
    const log: string[] = [];
    const step = (name: string, fail = false, undoFails = false): Step => ({
      title: name,
      run: () => (fail ? Promise.reject(new Error(`${name} broke`)) : Promise.resolve()),
      undo: () => ({ title: `undo ${name}`, run: () => { log.push(`undo ${name}`); return undoFails ? Promise.reject(new Error('stuck')) : Promise.resolve(); } }),
    });
    const progress: string[] = [];
    await expect(runSteps([step('a'), step('b', false, true), { title: 'c', run: () => Promise.resolve() }, step('d', true), step('e')], (l) => progress.push(l))).rejects.toThrow('d broke');
    expect(log).toEqual(['undo d', 'undo b', 'undo a']);
    expect(progress).toContain('[4/5] failed: d broke');
    expect(progress).toContain('  could not undo [2/5] (clean up by hand): stuck');
    expect(progress.at(-1)).toBe('rolled back');
    expect(progress.some((l) => l.startsWith('[5/5]'))).toBe(false);
  });
});
