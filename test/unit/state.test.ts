import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initialState } from '../../src/core/decide';
import { buildPublishedState } from '../../src/state/build';
import { isStale, parseState } from '../../src/state/validate';
import { writeFileAtomic } from '../../src/state/writer';

const nodes = [
  { name: 'primary', url: 'https://user:hunter2@llm.example.com/', model: 'qwen3:4b', api: 'ollama' as const, priority: 0 },
  { name: 'fallback', url: 'http://10.0.0.5:11434', model: 'qwen3:1.7b', api: 'ollama' as const, priority: 1 },
];
const monitor = { instance: 'oracle-1', version: '0.1.0', pid: 42, startedAt: Date.UTC(2026, 10, 29) };

describe('published state', () => {
  test('the example in docs/state-file.md is a valid document', () => {
    const md = readFileSync(resolve(__dirname, '../../docs/state-file.md'), 'utf8');
    const json = /```json\n([\s\S]*?)```/.exec(md)?.[1];
    expect(json).toBeDefined();
    const r = parseState(json as string);
    expect(r).toMatchObject({ ok: true });
  });

  test('build → JSON → parse round-trips, without userinfo in URLs', () => {
    const s = initialState(nodes, { wall: monitor.startedAt, mono: 0 });
    const doc = buildPublishedState(s, nodes, monitor, monitor.startedAt + 1000, 30_000);
    const text = JSON.stringify(doc);
    expect(text).not.toContain('hunter2');
    const r = parseState(text);
    if (!r.ok) throw new Error(r.error);
    expect(r.state.preferred).toEqual({ name: 'primary', url: 'https://llm.example.com', model: 'qwen3:4b', api: 'ollama' });
    expect(r.state.nodes.map((n) => n.status)).toEqual(['unknown', 'unknown']);
    expect(isStale(r.state, monitor.startedAt + 1000 + 30_000)).toBe(false);
    expect(isStale(r.state, monitor.startedAt + 1000 + 30_001)).toBe(true);
  });

  test('lastLiveness: published from the daemon\'s map, null before the first probe, validated, absent from older monitors', () => {
    const s = initialState(nodes, { wall: monitor.startedAt, mono: 0 });
    const at = monitor.startedAt + 500;
    const doc = buildPublishedState(s, nodes, monitor, monitor.startedAt + 1000, 30_000, undefined, new Map([['primary', { ok: false, reason: 'timeout', at, attempts: 3 }]]));
    const r = parseState(JSON.stringify(doc));
    if (!r.ok) throw new Error(r.error);
    expect(r.state.nodes[0]?.lastLiveness).toEqual({ ok: false, reason: 'timeout', at: new Date(at).toISOString(), attempts: 3 });
    expect(r.state.nodes[1]?.lastLiveness).toBeNull();
    const older = JSON.parse(JSON.stringify(doc));
    delete older.nodes[0].lastLiveness;
    const o = parseState(JSON.stringify(older));
    expect(o.ok && 'lastLiveness' in (o.state.nodes[0] ?? {})).toBe(false);
    const bad = JSON.parse(JSON.stringify(doc));
    bad.nodes[0].lastLiveness.attempts = 0;
    expect(parseState(JSON.stringify(bad))).toEqual({ ok: false, error: 'invalid state: nodes[0].lastLiveness.attempts: expected an integer >= 1, got number' });
    bad.nodes[0].lastLiveness = { reason: 'ok', at: new Date(at).toISOString(), attempts: 1 };
    expect(parseState(JSON.stringify(bad))).toEqual({ ok: false, error: 'invalid state: nodes[0].lastLiveness.ok: expected a boolean, got nothing (missing)' });
  });

  test.each([
    ['not JSON', '{"schemaVersion":', /not JSON/],
    ['other schema version', '{"schemaVersion":2}', /unsupported schemaVersion 2/],
    ['missing fields', '{"schemaVersion":1}', /invalid state/],
    ['array', '[]', /invalid state/],
  ])('rejects %s with a clear error', (_n, text, pattern) => {
    const r = parseState(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(pattern);
  });
});

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-state-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('writes with the mode asked for and leaves no temp file', () => {
    const f = join(dir, 'sub', 'state.json');
    writeFileAtomic(f, '{"a":1}', 0o644);
    writeFileAtomic(f, '{"a":2}', 0o644);
    expect(readFileSync(f, 'utf8')).toBe('{"a":2}');
    expect(statSync(f).mode & 0o777).toBe(0o644);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['state.json']);
  });

  test('a failed write keeps the previous file intact and cleans up', () => {
    const f = join(dir, 'state.json');
    writeFileAtomic(f, 'old');
    // A folder where the temp file should go makes the rename fail (EISDIR/ENOTEMPTY class of errors).
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    expect(() => writeFileAtomic(join(blocker, 'state.json'), 'new')).toThrow(/ENOTDIR|EEXIST/);
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['not-a-dir', 'state.json']);
  });
});
