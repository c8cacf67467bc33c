/** The import boundaries of eslint.config.js hold because the lint says so: prove the lint says so. */
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- the lint config is plain JavaScript without types
import { boundaries } from '../../eslint.config.js';

const eslint = new ESLint({
  cwd: new URL('../..', import.meta.url).pathname,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...(boundaries as object[])],
});

async function problems(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('import boundaries', () => {
  it.each([
    ['controller/planner/x.ts', "import { readFileSync } from 'node:fs';", /pure module/],
    ['controller/compile/x.ts', "import { connect } from '@nats-io/transport-node';", /import boundary/],
    ['agent/render/x.ts', "import { spawn } from 'node:child_process';", /pure module/],
    ['shared/schema/x.ts', "import pino from 'pino';", /pure module/],
    ['controller/cli/x.ts', "import { main } from '../../agent/cli/main.ts';", /import boundary/],
    ['agent/cli/x.ts', "import { plan } from '../../controller/planner/index.ts';", /import boundary/],
    ['shared/x.ts', "import { plan } from '../controller/planner/index.ts';", /import boundary/],
    ['controller/planner/x.ts', 'export const r = Math.random();', /randomness is an input/],
    ['controller/apply/x.ts', "import { runDemo } from '../demo/run.ts';", /import boundary/],
    ['controller/cli/commands/serve.ts', "import { PrivateTorNetwork } from '../../demo/private-tor/private-network.ts';", /import boundary/],
    ['agent/x.ts', "import { until } from '../test/support/processes.ts';", /import boundary/],
    ['shared/x.ts', "import { DEMO_DEVICES } from '../controller/demo/fleet.ts';", /import boundary/],
    ['agent/render/x.ts', 'export const t = Date.now();', /the clock is an input/],
  ])('%s may not %s', async (path, code, message) => {
    const found = await problems(path, `${code}\n`);
    expect(found).toContainEqual(expect.stringMatching(message));
  });

  it.each([
    ['controller/cli/x.ts', "import { readFile } from 'node:fs/promises';"],
    ['controller/planner/x.ts', "import { FleetSpec } from '#shared/schema/fleet-spec.ts';"],
    ['agent/cli/x.ts', "import { EXIT } from '#shared/errors.ts';"],
    ['controller/cli/commands/demo.ts', "import { runDemo } from '../../demo/run.ts';"],
    ['controller/demo/x.ts', "import { PrivateTorNetwork } from './private-tor/private-network.ts';"],
  ])('%s may %s', async (path, code) => {
    expect(await problems(path, `${code}\n`)).toEqual([]);
  });
});
