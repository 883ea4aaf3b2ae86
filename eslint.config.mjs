import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { builtinModules } from 'node:module';

/*
 * The layers of src/ (docs/architecture.md draws them). Each zone says: files in `target` may not import from
 * `from`. test/unit/layers.test.ts proves that a back-import fails `npm run lint`.
 */
const ALL = ['util', 'core', 'history', 'probes', 'state', 'client', 'config', 'storage', 'uptime', 'intake', 'peers', 'alerts', 'http', 'daemon', 'jobs', 'app', 'cli', 'init', 'simulator', 'install', 'bench', 'demo'];
const dirs = (names) => names.map((n) => `./src/${n}`);
const except = (names) => ALL.filter((n) => !names.includes(n));

/** Modules with I/O, or that start things: the pure layers (core, history, util) import none of them. */
const IO_MODULES = ['fs', 'net', 'http', 'https', 'dgram', 'child_process', 'worker_threads', 'undici', 'better-sqlite3', 'pino', 'nodemailer', 'node-cron', 'prom-client', 'yaml'].flatMap((m) => [m, `node:${m}`]);

/*
 * The client's fetch-only build (src/client/edge.ts, for edge runtimes) is every file of src/client except the
 * Node entry and the Node-only files it injects, plus the parts of the state contract and the reason table
 * it reads. Nothing in that graph may import a Node built-in or a Node-only file: esbuild would fail for
 * Vercel and Cloudflare users (test/integration/client-edge-*.test.ts bundle it as they do).
 */
const CLIENT_NODE_ONLY = ['src/client/index.ts', 'src/client/node.ts', 'src/client/state-file.ts', 'src/client/drop-folder.ts'];
const EDGE_GRAPH = ['src/client/**/*.ts', 'src/state/types.ts', 'src/state/validate.ts', 'src/core/reasons.ts', 'src/core/status.ts'];
const EDGE_FORBIDDEN = {
  paths: [
    ...builtinModules.filter((m) => !m.startsWith('_')).flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'The client\'s fetch-only build runs on edge runtimes: no Node built-ins (inject Node-only parts through src/client/node.ts).' })),
    ...['undici', 'better-sqlite3', 'pino', 'nodemailer', 'node-cron', 'prom-client', 'yaml', 'zod'].map((name) => ({ name, message: 'The client stays light and runs on edge runtimes: no dependencies.' })),
  ],
  patterns: [{ regex: '^\\.(/(index|node|state-file|drop-folder))?/?$', message: 'Node-only client files are injected by the Node entry (src/client/index.ts), never imported by the shared client.' }],
};

const layers = [
  {
    // The decision core: pure functions of (state, fact, policy, time). Probe result *types* are facts it reads.
    target: './src/core',
    from: [...dirs(except(['core', 'util', 'probes', 'state'])), './src/logging.ts', './src/undici.ts', './src/version.ts', './src/index.ts'],
    message: 'src/core is pure: it may import only src/core, src/util, probe result types and the state contract.',
  },
  { target: './src/core', from: './src/probes', except: ['./types.ts'], message: 'src/core may read probe result types, not run probes.' },
  { target: './src/core', from: './src/state', except: ['./types.ts'], message: 'src/core may read the state contract (types), not publish.' },
  {
    // Pure history maths (histograms, intervals, rollups, timelines): below storage, which calls it.
    target: './src/history',
    from: [...dirs(except(['history', 'core', 'util'])), './src/logging.ts', './src/undici.ts'],
    message: 'src/history is pure maths below storage: it may import only src/history, src/core and src/util.',
  },
  { target: './src/util', from: [...dirs(except(['util'])), './src/logging.ts', './src/undici.ts'], message: 'src/util is the bottom layer.' },
  {
    // What apps import: no zod, pino, undici, SQLite. Only the state contract and the reason table.
    target: './src/client',
    from: [...dirs(except(['client', 'state', 'core'])), './src/logging.ts', './src/undici.ts', './src/version.ts', './src/index.ts'],
    message: 'src/client must stay light: only src/client, the state contract and the reason table.',
  },
  { target: './src/client', from: './src/state', except: ['./types.ts', './validate.ts'], message: 'src/client may import the state contract only.' },
  // core/cloudflare.ts: the reason table's Cloudflare signals (import-free), so apps name a challenge as probes do.
  { target: './src/client', from: './src/core', except: ['./reasons.ts', './status.ts', './cloudflare.ts'], message: 'src/client may import the reason table (with its Cloudflare signals) and the status union only.' },
  {
    // All SQL lives in storage; it knows nothing of who calls it.
    target: './src/storage',
    from: dirs(['alerts', 'http', 'daemon', 'jobs', 'app', 'cli', 'uptime', 'intake', 'peers', 'init', 'probes', 'simulator', 'bench', 'demo', 'install']),
    except: ['./types.ts'],
    message: 'src/storage sits below everything that calls it.',
  },
  {
    target: dirs(except(['app', 'cli', 'bench', 'demo'])),
    from: './src/app',
    message: 'Only the composition root (src/app) and the entry points wire things together.',
  },
  {
    // The CLI is an entry point: only src/cli.ts, src/demo.ts and the benchmarks (which run CLI commands as a
    // user would) import it.
    target: [...dirs(except(['cli', 'bench'])), './src/index.ts', './src/logging.ts', './src/version.ts'],
    from: './src/cli',
    message: 'Nothing imports src/cli but the entry points (src/cli.ts, src/demo.ts, src/bench).',
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'dist-typecheck/', 'node_modules/', 'coverage/', 'demo-data/', 'jest.config.js', 'test/fixtures/lint/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      // no-cycle parses the files an import leads to: it must know .ts files and their parser.
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: layers }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // A file should fit in one reading (shared/STYLE.md): past this it is asking to be split.
      'max-lines': ['error', { max: 400 }],
      // Code outside src/storage uses the stores (storage.history, .outbox, .maintenance), never the raw handle.
      'no-restricted-syntax': ['error', { selector: "MemberExpression[property.name='db'][object.name=/storage/i]", message: 'Use the stores storage hands out; SQL stays in src/storage.' }],
    },
  },
  { files: ['src/storage/**/*.ts'], rules: { 'no-restricted-syntax': 'off' } },
  {
    // `require('undici')` loads fetch, WebSocket, mocks and caches too (4.7 MB of the daemon's heap): code
    // takes Agent and request from src/undici.ts, which loads only those. Type imports cost nothing.
    files: ['src/**/*.ts'],
    ignores: ['src/undici.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'undici', allowTypeImports: true, message: "Import from src/undici.ts: 'undici' loads the whole package." }] }] },
  },
  {
    files: ['src/core/**/*.ts', 'src/history/**/*.ts', 'src/util/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: IO_MODULES.map((name) => ({ name, message: 'The pure layers do no I/O: pass the facts in.' })) }] },
  },
  // Last, so it wins for the few core and state files in the edge graph (its list includes everything above).
  { files: EDGE_GRAPH, ignores: CLIENT_NODE_ONLY, rules: { 'no-restricted-imports': ['error', EDGE_FORBIDDEN] } },
);
