/**
 * Asking for a passphrase on a terminal, without echo. Only on a terminal: a script or a pipe gets
 * no prompt (it gives the passphrase as a file or in the environment).
 */
import type { ReadStream } from 'node:tty';
import { OperationFailedError } from '../errors.ts';

export interface PromptStreams {
  readonly input: NodeJS.ReadableStream & Partial<Pick<ReadStream, 'isTTY' | 'setRawMode'>>;
  readonly output: NodeJS.WritableStream;
}

const processStreams = (): PromptStreams => ({ input: process.stdin, output: process.stderr });

/** True when a prompt can be shown: stdin is a terminal. */
export function canPrompt(streams: PromptStreams = processStreams()): boolean {
  return streams.input.isTTY === true && typeof streams.input.setRawMode === 'function';
}

/**
 * Writes `question` to the terminal and reads one line without echoing it (backspace works). Ctrl-C
 * or Ctrl-D end the prompt with exit 2 (`invalid-input`): nothing was done.
 */
export function promptHidden(question: string, streams: PromptStreams = processStreams()): Promise<string> {
  const { input, output } = streams;
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (err: Error | null): void => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (err === null) resolve(typed);
      else reject(err);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') {
          finish(null);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish(new OperationFailedError('invalid-input', 'no passphrase given (the prompt was ended)'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    // Echo off before the question shows: a line typed (or pasted) the moment it appears is not echoed.
    input.setRawMode?.(true);
    output.write(question);
    input.resume();
    input.on('data', onData);
  });
}
