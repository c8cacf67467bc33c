/** Tor's control protocol, text side: replies (real tor 0.4.9 transcripts), GETINFO values, quoted strings. */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  bootstrapProgress, isEvent, parseGetinfo, parseKeywords, parseProtocolInfo, parseQuotedList, ReplyAssembler, replyText, type ControlReply,
} from '../../../controller/tor/control-reply.ts';
import { runs } from '../../support/runs.ts';

/** Feeds lines to a fresh assembler and returns every reply completed. */
function assemble(text: string): ControlReply[] {
  const assembler = new ReplyAssembler();
  return text.split('\n').map((line) => assembler.push(line)).filter((r): r is ControlReply => r !== null);
}

const PROTOCOLINFO = [
  '250-PROTOCOLINFO 1',
  '250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/work/x/data/control_auth_cookie"',
  '250-VERSION Tor="0.4.9.11"',
  '250 OK',
].join('\n');

describe('ReplyAssembler', () => {
  it('completes a reply at its final line, keeping every line', () => {
    const [reply, ...rest] = assemble(PROTOCOLINFO);
    expect(rest).toEqual([]);
    expect(reply?.status).toBe(250);
    expect(reply?.lines.map((l) => l.text)).toEqual(['PROTOCOLINFO 1', 'AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/work/x/data/control_auth_cookie"', 'VERSION Tor="0.4.9.11"', 'OK']);
  });

  it('collects a data block up to the lone dot, undoing dot-stuffing', () => {
    const [reply] = assemble(['250+config-text=', 'ControlPort 127.0.0.1:auto', '..hidden', '.', '250 OK'].join('\n'));
    expect(reply?.lines[0]).toEqual({ status: 250, text: 'config-text=', data: 'ControlPort 127.0.0.1:auto\n.hidden' });
  });

  it('tells events (650) from answers, and keeps consecutive replies apart', () => {
    const replies = assemble(['250 OK', '650 SIGNAL RELOAD', '552 Unrecognized key "x"'].join('\n'));
    expect(replies.map((r) => [r.status, isEvent(r)])).toEqual([[250, false], [650, true], [552, false]]);
    expect(replyText(replies[2]!)).toBe('Unrecognized key "x"');
  });

  it('refuses a line that is not a reply line', () => {
    expect(() => new ReplyAssembler().push('hello')).toThrow(RangeError);
  });
});

describe('parseGetinfo', () => {
  it('reads single-line and data-block values, skipping the final OK', () => {
    const [reply] = assemble([
      '250-net/listeners/socks="127.0.0.1:41085"',
      '250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"',
      '250+ns/all=',
      'r relay1 DKVF 2038-01-01 00:00:00 127.0.0.1 37455 0',
      's Fast HSDir Running Valid',
      '.',
      '250 OK',
    ].join('\n'));
    const values = parseGetinfo(reply!);
    expect([...values.keys()]).toEqual(['net/listeners/socks', 'status/bootstrap-phase', 'ns/all']);
    expect(values.get('net/listeners/socks')).toBe('"127.0.0.1:41085"');
    expect(values.get('ns/all')).toBe('r relay1 DKVF 2038-01-01 00:00:00 127.0.0.1 37455 0\ns Fast HSDir Running Valid');
  });
});

describe('quoted strings and keywords', () => {
  it('reads a list of listeners', () => {
    expect(parseQuotedList('"127.0.0.1:41085" "[::1]:41085"')).toEqual(['127.0.0.1:41085', '[::1]:41085']);
    expect(parseQuotedList('')).toEqual([]);
    expect(parseQuotedList('"open')).toBeNull();
  });

  test.prop([fc.array(fc.string())], { numRuns: runs(200) })('undoes the quoting of any strings', (strings) => {
    const quoted = strings.map((s) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(' ');
    expect(parseQuotedList(quoted)).toEqual(strings);
  });

  it('reads keyword arguments, quoted or bare', () => {
    const k = parseKeywords('WARN BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY="Handshaking with a relay" HOSTADDR="45.13.225.78:9001"');
    expect(Object.fromEntries(k)).toEqual({ PROGRESS: '14', TAG: 'handshake', SUMMARY: 'Handshaking with a relay', HOSTADDR: '45.13.225.78:9001' });
  });

  it('reads the bootstrap progress', () => {
    expect(bootstrapProgress('NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"')).toBe(100);
    expect(bootstrapProgress('WARN BOOTSTRAP PROGRESS=14 TAG=handshake')).toBe(14);
    expect(bootstrapProgress('unknown')).toBeNull();
  });

  it('reads the cookie file of PROTOCOLINFO', () => {
    expect(parseProtocolInfo(assemble(PROTOCOLINFO)[0]!)).toEqual({ methods: ['COOKIE', 'SAFECOOKIE'], cookieFile: '/work/x/data/control_auth_cookie' });
    expect(parseProtocolInfo(assemble('250-PROTOCOLINFO 1\n250-AUTH METHODS=NULL\n250 OK')[0]!)).toEqual({ methods: ['NULL'], cookieFile: null });
  });
});
