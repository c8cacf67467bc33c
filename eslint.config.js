// Lint: typescript-eslint strictTypeChecked, plus the import boundaries of the house (STYLE.md):
// shared imports neither controller nor agent; controller and agent never import each other;
// pure folders import no I/O (fs, processes, sockets, NATS, the logger).
import tseslint from 'typescript-eslint';

const io = ['node:fs', 'node:fs/promises', 'node:child_process', 'node:net', 'node:tls', 'node:http',
  'node:https', 'node:dgram', 'node:dns', 'node:os', 'node:process', 'fs', 'fs/promises', 'child_process',
  'net', 'tls', 'http', 'https', 'os', 'pino', 'socks', 'socks-proxy-agent', 'ssh2'];
const ioPatterns = ['@nats-io/*', '**/log', '**/log.ts', '**/fs/*'];

const restrict = (paths, patterns) => ({
  'no-restricted-imports': ['error', {
    paths: paths.map((name) => ({ name, message: 'pure module: no I/O here (see the folder README)' })),
    patterns: patterns.map((group) => ({ group: [group], message: 'import boundary (STYLE.md: shape of the house)' })),
  }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', '**/*.js', '!eslint.config.js'] },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
        message: 'only a CLI main() maps errors to exit codes',
      }],
    },
  },
  { files: ['shared/**/*.ts'], rules: restrict([], ['**/controller/**', '**/agent/**']) },
  { files: ['controller/**/*.ts'], rules: restrict([], ['**/agent/**']) },
  { files: ['agent/**/*.ts'], rules: restrict([], ['**/controller/**']) },
  {
    files: ['shared/schema/**/*.ts', 'controller/planner/**/*.ts', 'controller/compile/**/*.ts',
      'agent/render/**/*.ts', 'agent/reconcile/plan.ts', 'agent/reconcile/steps.ts'],
    rules: restrict(io, [...ioPatterns, '**/controller/**', '**/agent/**']),
  },
  { files: ['controller/cli/main.ts', 'agent/cli/main.ts'], rules: { 'no-restricted-syntax': 'off' } },
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: {
    '@typescript-eslint/no-non-null-assertion': 'off',
    '@typescript-eslint/restrict-template-expressions': 'off',
  } },
);
