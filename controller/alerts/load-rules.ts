/** Reads the alert rules file: YAML, checked by {@link AlertRules}; one problem per line, exit 2. */
import { parseDocument } from 'yaml';
import { InvalidInputError, OperationFailedError } from '#shared/errors.ts';
import { readCapped } from '#shared/fs/read-capped.ts';
import { issuesToProblems } from '#shared/schema/format-issues.ts';
import { AlertRules } from './rules.ts';

const MAX_BYTES = 1024 * 1024;

export async function loadAlertRules(path: string): Promise<AlertRules> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readCapped(path, MAX_BYTES));
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') throw new InvalidInputError([{ source: path, message: code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : 'permission denied' }], { cause: err });
    if (err instanceof TypeError) throw new InvalidInputError([{ source: path, message: 'not valid UTF-8 text' }], { cause: err });
    throw new OperationFailedError('read-failed', `${path}: cannot read`, { cause: err });
  }
  const doc = parseDocument(text, { uniqueKeys: true, strict: true, version: '1.2' });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(doc.errors.map((e) => ({ source: path, message: e.message.split('\n')[0] ?? e.code, line: e.linePos?.[0].line ?? 1, col: e.linePos?.[0].col ?? 1 })));
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const parsed = AlertRules.safeParse(raw ?? {});
  if (!parsed.success) throw new InvalidInputError(issuesToProblems(path, parsed.error.issues, raw));
  return parsed.data;
}
