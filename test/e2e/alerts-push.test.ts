import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDaemon, statusOf, waitForState, type DaemonProcess } from '../../src/demo/harness';
import { writeFastConfig } from '../helpers/daemon-config';
import { pushWords, startPushReceiver, type PushReceiver } from '../helpers/push-receiver';
import { startTwoNodes } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(90_000);

/** The real daemon with two push channels, one of which hangs: probing and the other channel carry on. */
test('a hanging push channel delays neither the other channel nor probing (real daemon)', async () => {
  const nodes = await startTwoNodes('sentinel-push-e2e-');
  const { dir, primary, fallback } = nodes;
  const stuck: PushReceiver = await startPushReceiver('slack');
  const ntfy: PushReceiver = await startPushReceiver('ntfy');
  let daemon: DaemonProcess | undefined;
  try {
    const config = writeFastConfig(
      dir,
      primary.url,
      fallback.url,
      `alerts:
  retry: { initial: 200ms, max: 1s }
  slack: [{ webhookUrl: "${stuck.url}", timeout: 30s }]
  ntfy: [{ url: "${ntfy.url}", topic: llm-alerts, token: "${ntfy.secret}" }]
`,
    );
    const stateFile = join(dir, 'state.json');
    // Slack holds every request for longer than the whole test.
    for (let i = 0; i < 5; i++) stuck.answers.push({ status: 200, delayMs: 60_000 });
    daemon = spawnDaemon(['run', '--config', config]);
    await waitForState(stateFile, (s) => s.preferred.name === 'primary' && statusOf(s, 'primary') === 'up' && statusOf(s, 'fallback') === 'up', 15_000);
    await primary.setFault('cf_tunnel_down');
    await waitFor('the DOWN push on ntfy', () => ntfy.delivered().length >= 1, 15_000);
    await waitFor('slack to be holding the DOWN message', () => stuck.holding() === 1, 5_000);
    await primary.setFault('none');
    // Probing goes on: the primary is seen up again and its recovery reaches ntfy while slack still hangs.
    await waitForState(stateFile, (s) => statusOf(s, 'primary') === 'up', 15_000);
    await waitFor('the RECOVERED push on ntfy', () => ntfy.delivered().length >= 2, 15_000);
    expect(stuck.holding()).toBe(1);
    expect(ntfy.delivered().map((h) => pushWords(h, 'ntfy').split('\n')[0])).toEqual([
      'llm-sentinel: primary DOWN — Cloudflare tunnel down (530/1033); apps on fallback',
      expect.stringMatching(/^llm-sentinel: primary RECOVERED after /),
    ]);
    expect(await daemon.stop()).toBe(0);
    for (const secret of [stuck.secret, ntfy.secret]) {
      expect(daemon.output()).not.toContain(secret);
      for (const f of readdirSync(dir).filter((n) => n.startsWith('sentinel.db'))) expect(readFileSync(join(dir, f)).includes(secret)).toBe(false);
    }
  } finally {
    await daemon?.kill9();
    await Promise.all([nodes.close(), stuck.close(), ntfy.close()]);
  }
});
