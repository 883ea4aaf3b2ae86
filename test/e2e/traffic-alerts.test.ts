import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import type { Simulator } from '../../src/simulator';
import { writeFastConfig } from '../helpers/daemon-config';
import { waitFor } from '../helpers/wait';
import { freePort, startSmtp, type SmtpFixture, mailTitle } from '../helpers/smtp';
import { startTwoNodes, type TwoNodes } from '../helpers/stack';

jest.setTimeout(120_000);

/**
 * Alerts follow traffic (issue 12): apps leave a primary that is degraded, not down, and the operator gets
 * one mail naming why, then one recovery mail in the same thread. Real daemon, simulators, real SMTP.
 */
describe('a degraded primary that loses its traffic (real daemon, real SMTP)', () => {
  let dir: string;
  let primary: Simulator;
  let fallback: Simulator;
  let nodes: TwoNodes;
  let daemon: DaemonProcess | undefined;
  let smtp: SmtpFixture;

  async function start(decision?: string): Promise<string> {
    const port = await freePort();
    smtp = await startSmtp({ port, user: 'sentinel', password: 'pw-traffic-1' });
    const config = writeFastConfig(
      dir,
      primary.url,
      fallback.url,
      `selfCheck: { witnesses: ["tcp://127.0.0.1:${port}"] }
alerts:
  retry: { initial: 200ms, max: 1s }
  email: { host: 127.0.0.1, port: ${port}, secure: false, user: sentinel, password: pw-traffic-1, from: "llm-sentinel <sentinel@example.com>", to: [ops@example.com], timeout: 2s }
`,
      { canary: '{ interval: 1s, timeout: 3s }', decision },
    );
    daemon = spawnDaemon(['run', '--config', config]);
    const stateFile = join(dir, 'state.json');
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 20_000);
    return stateFile;
  }

  beforeEach(async () => {
    nodes = await startTwoNodes('sentinel-traffic-');
    ({ dir, primary, fallback } = nodes);
  });
  afterEach(async () => {
    await daemon?.kill9();
    daemon = undefined;
    await smtp?.close();
    await nodes.close();
  });

  test('wrong answers → one DEGRADED mail naming the answer; answers right again → one RECOVERED mail in its thread', async () => {
    await start();
    await primary.setFault('wrong_answer', { scope: 'generation' });
    await waitFor('the DEGRADED mail', () => smtp.mails.length >= 1, 30_000);
    // The canary's 8 tokens cut the simulator's refusal short; the mail quotes what the model said.
    expect(mailTitle(smtp.mails[0])).toMatch(/^\[llm-sentinel\] primary DEGRADED — wrong answers \("I cannot help with[^"]*"\); apps on fallback$/);
    await primary.setFault('none');
    await waitFor('the RECOVERED mail', () => smtp.mails.length >= 2, 30_000);
    expect(mailTitle(smtp.mails[1])).toMatch(/^\[llm-sentinel\] primary RECOVERED after \S+ \(was: canary answered wrongly\); apps on /);
    expect(smtp.mails[1]?.inReplyTo).toBe(smtp.mails[0]?.messageId);
    await new Promise((r) => setTimeout(r, 2000));
    expect(smtp.mails).toHaveLength(2);
  });

  test('slow canaries → one SLOW mail with the first-token time and the limit', async () => {
    await start('slowTtft: 400ms');
    // Every token 300 ms apart: the first one comes after ~600 ms with no model load to excuse it.
    primary.setTokenDelay(300);
    await waitFor('the SLOW mail', () => smtp.mails.length >= 1, 40_000);
    expect(mailTitle(smtp.mails[0])).toMatch(/^\[llm-sentinel\] primary SLOW — first token \d+\.\d s > 0\.4 s; apps on fallback$/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(smtp.mails.filter((m) => / SLOW /.test(mailTitle(m)))).toHaveLength(1);
  });
});
