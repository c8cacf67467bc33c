import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { processOutput } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { parseJsonText } from '#shared/fs/load-json.ts';
import { createLogger, lineStream } from '#shared/log.ts';
import { loadAgentConfig } from '../../config.ts';
import { ApplierRequest, MAX_REQUEST_BYTES } from '../../applier/protocol.ts';
import { serveRequest } from '../../applier/serve.ts';
import { managersFor, RootFlags } from './shared.ts';

const Flags = z.object({ ...RootFlags });

/**
 * `onionfleet-agent applier [--config FILE] [--root DIR]`: the privileged half of the agent (root, one
 * request per run): reads one JSON request line on standard input, answers one JSON line on standard
 * output, logs on standard error. systemd runs it per connection to onionfleet-apply.socket
 * (deploy/onionfleet-apply@.service); see agent/applier/protocol.ts.
 */
export async function applierCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const config = await loadAgentConfig(flags.config, flags.root === undefined ? {} : { root: resolve(flags.root) });
  const line = await firstLine(process.stdin);
  const request = parseJsonText(line, 'the request on standard input', ApplierRequest, 'an applier request');
  const log = createLogger({ name: 'onionfleet-applier', base: config.device === undefined ? {} : { device: config.device }, stream: ctx.output === processOutput ? process.stderr : lineStream(ctx.output.err) });
  const answer = await serveRequest(request, { config, ...managersFor(config), log });
  // Standard output is the connection: write, and wait until it is written, before the process ends.
  await new Promise<void>((done, failed) => {
    process.stdout.write(`${JSON.stringify(answer)}\n`, (err) => {
      if (err) failed(err);
      else done();
    });
  });
}

/**
 * The first line of `input`. Reading stops there: the agent keeps its end open for the answer, and
 * reading on to the end would make node shut the connection's writing half too (standard input and
 * output are the same socket).
 */
function firstLine(input: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err: Error | null) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', done);
      input.pause();
      input.destroy();
      const end = text.indexOf('\n');
      if (err !== null) reject(err);
      else resolve(end >= 0 ? text.slice(0, end) : text);
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (text.includes('\n')) done(null);
      else if (text.length > MAX_REQUEST_BYTES * 2) done(new InvalidInputError([{ source: 'standard input', message: 'the request is too long' }]));
    };
    const onEnd = () => {
      done(null);
    };
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', done);
  });
}
