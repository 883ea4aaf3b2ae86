import type { Config } from '../config';
import { silentLogger } from '../logging';
import { PeerPoller } from '../peers/poller';
import { systemClock } from '../util/clock';
import { packageVersion } from '../version';

/**
 * `check`'s peers section: each peer's /peer polled once (a plain GET: check is not the daemon and reports
 * nothing of its own). A misconfiguration says "MONITORS DISAGREE" with what differs, as the daemon's alert and
 * /healthz do.
 */
export async function checkPeers(config: Config): Promise<string[]> {
  const peers = config.peers;
  if (!peers) return [];
  const poller = new PeerPoller({ self: config.instance, config: peers, clock: systemClock, logger: silentLogger(), version: packageVersion() });
  const settled = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, peers.timeout + 1_000);
    const done = () => poller.views().every((v) => v.lastOkAt !== null || v.lastError !== null);
    const timer = setInterval(() => {
      if (!done()) return;
      clearInterval(timer);
      clearTimeout(t);
      resolve();
    }, 50);
    t.unref();
    setTimeout(() => clearInterval(timer), peers.timeout + 1_000).unref();
  });
  poller.start();
  await settled;
  await poller.stop();
  return poller.views().map((v) => {
    if (v.problem) return `peer ${v.name}: MONITORS DISAGREE: ${v.problem}`;
    if (v.lastOkAt !== null) return `peer ${v.name}: answers (rank ${v.report?.rank.join(', ') ?? '?'}; ${v.answerMs ?? '?'}ms)`;
    return `peer ${v.name}: not answering: ${v.lastError ?? 'no answer'}`;
  });
}
