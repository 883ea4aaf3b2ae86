import YAML from 'yaml';
import { parseConfig } from '../../src/config';
import type { Discovery } from '../../src/init/discover';
import { chooseModel, DEFAULT_WITNESSES, isLoopbackListen, renderConfig } from '../../src/init/render';

const ollama = (over: Partial<Discovery> = {}): Discovery => ({ url: 'http://10.0.0.5:11434', api: 'ollama', version: '0.32.15', installed: ['qwen3:4b', 'llama3.2:latest'], loaded: [], cloudflare: false, access: false, ...over });
const broken: Discovery = { url: 'https://llm.example.com', api: 'unknown', installed: [], loaded: [], cloudflare: true, access: false, problem: { reason: 'cloudflare_tunnel_down', detail: '530 from Cloudflare (error 1033: tunnel not connected)' } };

describe('init: which model a node is probed with', () => {
  test.each<[string, Discovery, string | undefined, string | undefined, boolean]>([
    ['loaded beats installed', ollama({ loaded: ['llama3.2:latest'] }), undefined, 'llama3.2:latest', false],
    ['newest installed when nothing is loaded', ollama(), undefined, 'qwen3:4b', false],
    ['--model wins, tag-less name matches :latest', ollama(), 'llama3.2', 'llama3.2', false],
    ['--model missing on the node warns', ollama(), 'gemma3', 'gemma3', true],
    ['nothing installed warns and writes no model (never a built-in name)', ollama({ installed: [] }), undefined, undefined, true],
    ['an unreachable node without --model: none written, discovered later', broken, undefined, undefined, false],
    ['an unreachable node takes --model without a warning', broken, 'gemma3', 'gemma3', false],
  ])('%s', (_what, d, wanted, model, warns) => {
    const c = chooseModel(d, wanted);
    expect(c.model).toBe(model);
    expect(c.warning !== undefined).toBe(warns);
  });

  test('loopback listen addresses need no token', () => {
    expect(['127.0.0.1:9470', 'localhost:1', '[::1]:9470'].map(isLoopbackListen)).toEqual([true, true, true]);
    expect(['0.0.0.0:9470', '192.168.1.2:80', '[::]:9470'].map(isLoopbackListen)).toEqual([false, false, false]);
  });
});

describe('init: the config it renders', () => {
  const input = {
    primary: broken,
    fallback: ollama({ api: 'openai' as const, version: undefined }),
    witnesses: DEFAULT_WITNESSES,
    listen: '0.0.0.0:9470',
    email: { to: ['ops@example.com'], host: 'smtp.example.com', port: 587, user: 'sentinel', from: 'llm-sentinel <s@example.com>' },
    secretsDir: 'credentials',
    secretFiles: { httpToken: true, smtpPassword: true },
    writtenAt: '2026-11-30T10:00:00Z',
  };

  test('is valid config referencing its secret files, with the broken node marked and the witnesses explained', () => {
    const text = renderConfig(input);
    const files: Record<string, string> = { '/etc/llm/credentials/http-token': 'tok-123456', '/etc/llm/credentials/smtp-password': 'pw-123456' };
    const c = parseConfig(YAML.parse(text), {}, { baseDir: '/etc/llm', io: { readFile: (p) => files[p] ?? '', hostname: () => 'h', cwd: () => '/' } });
    expect(c.nodes.map((n) => [n.name, n.url, n.api, n.model])).toEqual([
      ['primary', 'https://llm.example.com', 'ollama', undefined],
      ['fallback', 'http://10.0.0.5:11434', 'openai', 'qwen3:4b'],
    ]);
    expect(c.http?.token?.reveal()).toBe('tok-123456');
    expect(c.alerts.email?.password?.reveal()).toBe('pw-123456');
    expect(c.selfCheck.witnesses).toEqual(DEFAULT_WITNESSES);
    expect(text).toContain('# !! NOT WORKING when init ran: 530 from Cloudflare (error 1033: tunnel not connected)');
    expect(text).toContain('# These are two public DNS resolvers run by different organisations (Cloudflare 1.1.1.1, Quad9 9.9.9.9)');
    // The witnesses the docs name (config.example.yaml, the deploy guides, check's warning).
    expect(DEFAULT_WITNESSES).toEqual(['tcp://1.1.1.1:53', 'tcp://9.9.9.9:53']);
    expect(text).toContain('`init --witness` sets them');
  });

  test('own witnesses drop the resolver note; no --listen means no http section', () => {
    const text = renderConfig({ ...input, witnesses: ['tcp://127.0.0.1:9'], listen: undefined, email: undefined, secretFiles: {} });
    expect(text).not.toContain('public DNS resolvers');
    expect(text).not.toMatch(/^http:/m);
    expect(text).not.toMatch(/^alerts:/m);
  });
});
