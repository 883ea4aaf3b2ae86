/**
 * A load generator: apps streaming long drafts back to back, the load a self-hosted primary carries every day
 * (issue 19). Each of `concurrency` apps sends one streamed `/api/chat` draft after another, asking the
 * simulator (header `x-simulator-draft-ms`) for a draft of `draftMs`; a real Ollama ignores the header and
 * answers the prompt. It records what each app saw, so tests and `npm run bench -- busy` can tell what
 * probing cost the apps.
 */
import { request, Agent, type IncomingMessage } from 'node:http';
import { DRAFT_HEADER } from './generation';

export interface LoadOptions {
  /** Base URL of the node (no trailing slash). */
  url: string;
  model: string;
  /** Length of each draft once its first token has come. */
  draftMs: number;
  /** Apps streaming at once (each sends its next draft as soon as the last one ended). Default 1. */
  concurrency?: number;
  /** Pause between an app's drafts. Default 0 (back to back). */
  gapMs?: number;
  /** options.num_ctx the apps send (the canary should match it). */
  numCtx?: number;
}

export interface DraftRecord {
  app: number;
  /** Epoch ms the request was sent. */
  startedAt: number;
  /** Request to response headers (= the first token on Ollama: nothing is written before it). */
  firstTokenMs: number | null;
  totalMs: number;
  /** Longest silence between two chunks after the first. */
  maxGapMs: number;
  /** The stream ended with done:true. */
  ok: boolean;
  /** Server-reported durations of the final chunk (ns), when it came. */
  totalDurationNs?: number;
  evalDurationNs?: number;
}

export interface LoadGenerator {
  /** Drafts finished so far (in the order they ended). */
  readonly drafts: readonly DraftRecord[];
  /** Drafts in flight now. */
  readonly inFlight: number;
  /** Stops sending, aborts the drafts in flight (recorded as not ok) and resolves with every record. */
  stop(): Promise<DraftRecord[]>;
}

function oneDraft(opts: LoadOptions, agent: Agent, app: number, signal: AbortSignal): Promise<DraftRecord> {
  const started = performance.now();
  const record: DraftRecord = { app, startedAt: Date.now(), firstTokenMs: null, totalMs: 0, maxGapMs: 0, ok: false };
  const body = JSON.stringify({
    model: opts.model,
    messages: [{ role: 'user', content: 'Write the follow-up email to Ms Rivera about Tuesday, with the figures.' }],
    stream: true,
    ...(opts.numCtx !== undefined ? { options: { num_ctx: opts.numCtx } } : {}),
  });
  return new Promise((resolve) => {
    let last = 0;
    let buffered = '';
    const finish = (): void => {
      record.totalMs = performance.now() - started;
      resolve(record);
    };
    const req = request(
      `${opts.url}/api/chat`,
      { method: 'POST', agent, signal, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [DRAFT_HEADER]: String(opts.draftMs) } },
      (res: IncomingMessage) => {
        record.firstTokenMs = performance.now() - started;
        last = performance.now();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = performance.now();
          record.maxGapMs = Math.max(record.maxGapMs, now - last);
          last = now;
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            try {
              const o = JSON.parse(line) as Record<string, unknown>;
              if (o['done'] === true) {
                record.ok = res.statusCode === 200;
                if (typeof o['total_duration'] === 'number') record.totalDurationNs = o['total_duration'];
                if (typeof o['eval_duration'] === 'number') record.evalDurationNs = o['eval_duration'];
              }
            } catch {
              // a line that is not JSON: the draft is not ok
            }
          }
        });
        res.on('end', finish);
        res.on('error', finish);
        res.on('aborted', finish);
      },
    );
    req.on('error', finish);
    req.end(body);
  });
}

export function startLoad(opts: LoadOptions): LoadGenerator {
  if (!(opts.draftMs > 0)) throw new RangeError(`draftMs must be > 0, got ${opts.draftMs}`);
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a whole number >= 1, got ${concurrency}`);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const stopping = new AbortController();
  const drafts: DraftRecord[] = [];
  let inFlight = 0;
  const app = async (n: number): Promise<void> => {
    while (!stopping.signal.aborted) {
      inFlight++;
      const r = await oneDraft(opts, agent, n, stopping.signal);
      inFlight--;
      drafts.push(r);
      if (!r.ok && !stopping.signal.aborted) await new Promise((res) => setTimeout(res, 200)); // do not spin on a dead node
      if ((opts.gapMs ?? 0) > 0 && !stopping.signal.aborted) await new Promise((res) => setTimeout(res, opts.gapMs));
    }
  };
  const apps = Array.from({ length: concurrency }, (_, i) => app(i));
  let stopped: Promise<DraftRecord[]> | undefined;
  return {
    get drafts() {
      return drafts;
    },
    get inFlight() {
      return inFlight;
    },
    stop: () =>
      (stopped ??= (async () => {
        stopping.abort();
        await Promise.all(apps);
        agent.destroy();
        return [...drafts];
      })()),
  };
}
