import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

jest.setTimeout(120_000);

/** `npm run demo` as users run it (dist/demo.js): the story is told in order, with the mail and the report. */
test('the demo prints each state line under the step that caused it, the alert mail, the report and the status page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-demo-'));
  try {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'demo.js'), dir], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (b: Buffer) => (text += b.toString()));
      child.stderr.on('data', (b: Buffer) => (text += b.toString()));
      child.on('exit', (c) => resolve({ code: c, out: text }));
    });
    expect(code).toBe(0);
    // The lines between one step header and the next.
    const section = (title: string) => {
      const start = out.indexOf(`--- ${title}`);
      expect(start).toBeGreaterThan(-1);
      const end = out.indexOf('--- ', start + 4);
      return out.slice(start, end === -1 ? out.indexOf('daemon stopped') : end);
    };
    const tunnel = section('primary: Cloudflare tunnel down');
    expect(tunnel).toContain('state: preferred=fallback  primary=down(cloudflare_tunnel_down) fallback=up');
    expect(tunnel).toContain('mail to ops@example.test: [llm-sentinel] primary DOWN — Cloudflare tunnel down (530/1033); apps on fallback');
    expect(tunnel).toContain('      | Detail: 530 from Cloudflare (error 1033: tunnel not connected)');
    expect(section('primary: tunnel back')).toMatch(/primary RECOVERED after .*\(was: Cloudflare tunnel down/);
    const hang = section('primary: hangs');
    expect(hang).toContain('primary=down(timeout)');
    expect(hang).toContain('primary DOWN — timed out; apps on fallback');
    const recovers = section('primary: recovers');
    expect(recovers).not.toContain('down(');
    expect(recovers).toMatch(/primary RECOVERED after .*\(was: timed out\)/);
    expect(recovers).toContain('state: preferred=primary  primary=up fallback=up');
    expect(out).toMatch(/What the demo recorded \(llm-sentinel report --config .* --from .*\):\nllm-sentinel report /);
    expect(out).toMatch(/Incidents \(2\):/);
    // No spurious cold start (issue 21): the start-up loads are first loads, counted apart.
    expect(out).toMatch(/^primary +\d+ +\d+ +.* 0 +\d+$/m);
    expect(out).toContain('Keep-warm: no app model found unloaded.');
    expect(out).toMatch(/Model loads the monitor caused: primary 1 first load; fallback 1 first load \(first loads are not cold starts\)\./);
    expect(out).toMatch(/The status page was at http:\/\/127\.0\.0\.1:\d+\/ while the daemon ran/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
