import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAlerting, type AlertingService } from '../../src/alerts/alerting';
import type { Channel } from '../../src/alerts/channel';
import { parseConfig, type Config } from '../../src/config';
import { decide, initialState, type CoreEvent, type MonitorState, type Policy } from '../../src/core/decide';
import { policyOf } from '../../src/config/policy';
import { createLogger } from '../../src/logging';
import type { Reason } from '../../src/probes/types';
import { openStorage, type Storage } from '../../src/storage';
import { FakeClock } from '../../src/util/clock';
import { LogCapture } from '../helpers/log';

export const PASSWORD = 'Zq8-unique-SMTP-pa55word';
export const TUNNEL_DOWN = { reason: 'cloudflare_tunnel_down' as Reason, detail: '530 from Cloudflare (error 1033: tunnel not connected), ray 8d1f: is cloudflared running and connected?' };

/** A monitor in miniature: the real decision core feeding a real Alerting on a real SQLite file, as the daemon does. */
export class Rig {
  readonly dir: string;
  readonly clock = new FakeClock(Date.UTC(2026, 0, 5, 9, 0));
  readonly logs = new LogCapture();
  config: Config;
  storage: Storage;
  alerting: AlertingService;
  state: MonitorState;
  readonly policy: Policy;
  readonly events: CoreEvent[] = [];

  constructor(raw: Record<string, unknown>, opts: { env?: NodeJS.ProcessEnv; channels?: Channel[]; dir?: string } = {}) {
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sentinel-alerts-'));
    this.config = parseConfig(
      {
        instance: 'oracle-1',
        nodes: [
          { name: 'primary', url: 'http://127.0.0.1:1' },
          { name: 'fallback', url: 'http://127.0.0.1:2' },
        ],
        database: 'sentinel.db',
        stateFile: 'state.json',
        probes: { canary: { enabled: false } },
        ...raw,
      },
      opts.env ?? {},
      { baseDir: this.dir },
    );
    this.policy = policyOf(this.config);
    this.storage = openStorage(this.config.database, { clock: this.clock });
    this.alerting = createAlerting({ config: this.config, storage: this.storage, logger: createLogger({ level: 'debug', destination: this.logs }), clock: this.clock, channels: opts.channels, random: () => 0.5 });
    this.state = initialState(this.config.nodes, this.instant());
  }

  instant() {
    return { wall: this.clock.now(), mono: this.clock.mono() };
  }

  /** One liveness result for a node, decided and recorded the way the daemon's #record does. */
  probe(node: string, failure?: { reason: Reason; detail?: string }): CoreEvent[] {
    const r = { node, kind: 'liveness' as const, ok: !failure, reason: failure?.reason ?? ('ok' as Reason), detail: failure?.detail, startedAt: this.clock.now(), durationMs: 5 };
    const d = decide(this.state, r, this.policy, this.instant());
    this.state = d.next;
    if (d.events.length > 0) {
      this.storage.transaction(() => {
        for (const e of d.events) {
          if (e.type === 'node:transition') this.storage.insertTransition(e);
          else this.storage.insertPreferredChange(e);
        }
        this.alerting.onEvents(d.events, this.state, this.instant());
      });
    }
    this.events.push(...d.events);
    return d.events;
  }

  /** `fall` (3) failures: the node is confirmed down. */
  down(node: string, failure: { reason: Reason; detail?: string } = { reason: 'refused', detail: 'connection refused (ECONNREFUSED): nothing listening — is Ollama running?' }): void {
    for (let i = 0; i < this.policy.fall; i++) {
      this.probe(node, failure);
      this.clock.advance(2000);
    }
  }

  /** `rise` (2) successes. */
  up(node: string): void {
    for (let i = 0; i < this.policy.rise; i++) {
      this.probe(node);
      this.clock.advance(2000);
    }
  }

  tick(): void {
    this.alerting.tick(this.state, this.instant());
  }

  outbox() {
    return this.storage.outbox;
  }

  /** Simulates a crash: nothing is stopped, the database is closed under it; a new Alerting opens it again. */
  crashAndRestart(opts: { channels?: Channel[] } = {}): void {
    this.storage.close();
    this.storage = openStorage(this.config.database, { clock: this.clock });
    this.alerting = createAlerting({ config: this.config, storage: this.storage, logger: createLogger({ level: 'debug', destination: this.logs }), clock: this.clock, channels: opts.channels, random: () => 0.5 });
  }

  async close(): Promise<void> {
    await this.alerting.stop();
    this.storage.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function emailConfig(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { host: '127.0.0.1', port, secure: false, user: 'sentinel', password: PASSWORD, from: 'llm-sentinel <sentinel@example.test>', to: ['ops@example.test'], timeout: '2s', ...extra };
}
