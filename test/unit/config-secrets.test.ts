import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/config';

const nodes = (secret: unknown) => [
  { name: 'primary', url: 'https://llm.example.com', headers: { 'CF-Access-Client-Secret': secret } },
  { name: 'fallback', url: 'http://127.0.0.1:11434' },
];

describe('empty secrets are refused (a missing systemd credential must not silently disable auth)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sentinel-secret-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    ['an empty string', ''],
    ['an empty file', 'FILE'],
  ])('%s', (_name, value) => {
    const f = join(dir, 'empty');
    writeFileSync(f, '\n');
    try {
      parseConfig({ nodes: nodes(value === 'FILE' ? { file: f } : value) }, {});
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems.join('\n')).toMatch(/nodes\[0\]\.headers\.CF-Access-Client-Secret: (must not be empty|secret file .* is empty)/);
    }
  });
});
