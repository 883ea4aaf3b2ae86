import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The layer rules in eslint.config.mjs, run the way `npm run lint` runs them: a deliberate back-import in a
 * file placed in each layer must fail, and allowed imports must pass. The files are linted as text at a path
 * inside src/ (nothing is written), so the real config and resolver judge them. ESLint loads its config with
 * a dynamic import, which Jest's VM does not allow, so every case is linted in one real node process.
 */
const ROOT = join(__dirname, '..', '..');

const LINT_CASES = `
const { ESLint } = require('eslint');
const { join } = require('node:path');
const cases = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const eslint = new ESLint({ cwd: process.cwd() });
(async () => {
  const out = [];
  for (const [path, code] of cases) {
    const [r] = await eslint.lintText(code, { filePath: join(process.cwd(), path) });
    out.push(r.messages.map((m) => m.ruleId + ': ' + m.message));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const code = (...lines: string[]) => `${lines.join('\n')}\n`;

/** [file it pretends to be, its text, what the lint must say (undefined: nothing)] */
const CASES: Array<[string, string, RegExp | undefined]> = [
  ['src/core/back-import.ts', code("import { openStorage } from '../storage';", 'export const f = openStorage;'), /no-restricted-paths.*src\/core is pure/],
  ['src/core/back-import.ts', code("import { readFileSync } from 'node:fs';", 'export const f = readFileSync;'), /no-restricted-imports.*pure layers do no I\/O/],
  ['src/core/back-import.ts', code("import { probeLiveness } from '../probes/liveness';", 'export const f = probeLiveness;'), /no-restricted-paths.*not run probes/],
  ['src/history/back-import.ts', code("import type { Storage } from '../storage';", 'export type S = Storage;'), /no-restricted-paths.*below storage/],
  ['src/client/back-import.ts', code("import { createLogger } from '../logging';", 'export const f = createLogger;'), /no-restricted-paths.*stay light/],
  ['src/storage/back-import.ts', code("import { createAlerting } from '../alerts/alerting';", 'export const f = createAlerting;'), /no-restricted-paths.*below everything/],
  ['src/alerts/back-import.ts', code("import { run } from '../cli/run';", 'export const f = run;'), /no-restricted-paths.*entry points/],
  ['src/daemon/back-import.ts', code("import { startMonitor } from '../app/monitor';", 'export const f = startMonitor;'), /no-restricted-paths.*composition root/],
  ['src/http/back-import.ts', code("import type { Storage } from '../storage';", "export const rows = (storage: Storage) => storage.db.prepare('SELECT 1').get();"), /no-restricted-syntax.*SQL stays in src\/storage/],
  ['src/peers/whole-undici.ts', code("import { Agent } from 'undici';", 'export const f = Agent;'), /no-restricted-imports.*src\/undici\.ts/],
  ['src/peers/allowed.ts', code("import type { Dispatcher } from 'undici';", "import { Agent } from '../undici';", 'export const f = (d: Dispatcher) => [d, Agent];'), undefined],
  // core/restore.ts imports ./decide, so decide importing ./restore closes a loop.
  ['src/core/decide.ts', code("import { restoreState } from './restore';", 'export const f = restoreState;'), /no-cycle/],
  ['src/core/allowed.ts', code("import { restoreState } from './restore';", 'export const f = restoreState;'), undefined],
  ['src/core/allowed.ts', code("import { REASON_INFO } from './reasons';", "import type { ProbeResult } from '../probes/types';", 'export const f = (r: ProbeResult) => REASON_INFO[r.reason];'), undefined],
  ['src/client/allowed.ts', code("import { REASON_INFO } from '../core/reasons';", "import { parseState } from '../state/validate';", 'export const f = [REASON_INFO, parseState];'), undefined],
  // The client's fetch-only (edge) build: no Node built-in and no Node-only client file in its graph.
  ['src/client/edge-leak.ts', code("import { readFileSync } from 'node:fs';", 'export const f = readFileSync;'), /no-restricted-imports.*edge runtimes: no Node built-ins/],
  ['src/client/edge-leak.ts', code("import { createHash } from 'crypto';", 'export const f = createHash;'), /no-restricted-imports.*edge runtimes: no Node built-ins/],
  ['src/client/edge-leak.ts', code("import { fileStateSource } from './state-file';", 'export const f = fileStateSource;'), /no-restricted-imports.*injected by the Node entry/],
  ['src/state/validate.ts', code("import { Buffer } from 'node:buffer';", 'export const f = Buffer;'), /no-restricted-imports.*edge runtimes: no Node built-ins/],
  ['src/client/node.ts', code("import { dirname } from 'node:path';", "import { fileStateSource } from './state-file';", 'export const f = [dirname, fileStateSource];'), undefined],
  ['src/cli/allowed.ts', code("import { startMonitor } from '../app/monitor';", "import { table } from '../util/table';", 'export const f = [startMonitor, table];'), undefined],
];

let found: string[][];
beforeAll(() => {
  const r = spawnSync(process.execPath, ['-e', LINT_CASES], { cwd: ROOT, input: JSON.stringify(CASES.map(([p, c]) => [p, c])), encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`eslint did not run: ${r.stderr || r.error?.message}`);
  found = JSON.parse(r.stdout) as string[][];
}, 150_000);

describe('npm run lint keeps the layers', () => {
  test.each(CASES.map((c, i) => [c[0], c[1].split('\n')[0], c[2], i] as const))('%s with `%s` → %s', (_path, _first, expected, i) => {
    const problems = found[i] as string[];
    if (expected) expect(problems.some((p) => expected.test(p))).toBe(true);
    else expect(problems).toEqual([]);
  });
});
