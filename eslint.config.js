// Lint: typescript-eslint strictTypeChecked, plus the import boundaries of the house:
// shared imports neither controller nor agent; controller and agent never import each other;
// pure folders import no I/O (fs, processes, sockets, NATS, the logger).
import tseslint from 'typescript-eslint';

const io = ['node:fs', 'node:fs/promises', 'node:child_process', 'node:net', 'node:tls', 'node:http',
  'node:https', 'node:dgram', 'node:dns', 'node:os', 'node:process', 'fs', 'fs/promises', 'child_process',
  'net', 'tls', 'http', 'https', 'os', 'pino', 'socks', 'socks-proxy-agent', 'ssh2', 'node:crypto', 'crypto'];
const noExit = {
  selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
  message: 'only a CLI main() maps errors to exit codes',
};
// The clock and randomness are inputs of pure code.
const noAmbient = [
  { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'pure module: randomness is an input' },
  { selector: "MemberExpression[object.name='Date'][property.name='now']", message: 'pure module: the clock is an input' },
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'pure module: the clock is an input' },
];
const ioPatterns = ['@nats-io/*', '**/log', '**/log.ts', '**/fs/*'];

const restrict = (paths, patterns) => ({
  'no-restricted-imports': ['error', {
    paths: paths.map((name) => ({ name, message: 'pure module: no I/O here (see the folder README)' })),
    patterns: patterns.map((group) => ({ group: [group], message: 'import boundary (see the top of eslint.config.js)' })),
  }],
});

/** The import boundaries alone (also used by test/unit/lint-boundaries.test.ts). */
// The demo and the private test Tor network (controller/demo/) and the test code (test/) are fenced
// off: production code never imports them. Only the `demo` verb itself reaches into controller/demo/.
const fenced = ['**/demo/**', '**/test/**'];

export const boundaries = [
  { files: ['shared/**/*.ts'], rules: restrict([], ['**/controller/**', '**/agent/**', ...fenced]) },
  { files: ['controller/**/*.ts'], ignores: ['controller/demo/**'], rules: restrict([], ['**/agent/**', ...fenced]) },
  { files: ['controller/cli/commands/demo.ts'], rules: restrict([], ['**/agent/**', '**/test/**']) },
  { files: ['controller/demo/**/*.ts'], rules: restrict([], ['**/agent/**', '**/test/**']) },
  { files: ['agent/**/*.ts'], rules: restrict([], ['**/controller/**', ...fenced]) },
  {
    files: ['shared/schema/**/*.ts', 'controller/planner/**/*.ts', 'controller/compile/**/*.ts', 'controller/bundle/document.ts', 'controller/bundle/page.ts', 'controller/bundle/trusted-signers.ts',
      'controller/probe/aggregate.ts', 'controller/probe/model.ts', 'controller/probe/render.ts',
      'controller/tor/torrc.ts', 'controller/tor/control-reply.ts', 'controller/tor/tor-log.ts',
      'controller/demo/private-tor/consensus.ts', 'controller/demo/private-tor/network-torrc.ts',
      'agent/render/**/*.ts', 'agent/reconcile/plan.ts', 'agent/reconcile/steps.ts',
      'shared/metrics/**/*.ts', 'agent/metrics/summary.ts', 'controller/alerts/evaluate.ts', 'controller/alerts/rules.ts', 'controller/metrics/exposition.ts',
      'controller/rollout/waves.ts', 'controller/rollout/defaults.ts', 'controller/rollout/gate.ts', 'controller/rollout/events.ts', 'controller/rollout/describe.ts'],
    rules: { ...restrict(io, [...ioPatterns, '**/controller/**', '**/agent/**']), 'no-restricted-syntax': ['error', noExit, ...noAmbient] },
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', '.tmp/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', noExit],
    },
  },
  ...boundaries,
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: {
    '@typescript-eslint/no-non-null-assertion': 'off',
    '@typescript-eslint/restrict-template-expressions': 'off',
  } },
);
