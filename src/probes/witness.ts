import { connect } from 'node:net';
import { request, type Dispatcher } from '../undici';

export interface WitnessResult {
  target: string;
  ok: boolean;
  detail: string;
}

/**
 * Is the monitor's own network up? A witness is something that should always answer: `tcp://9.9.9.9:53`
 * (a TCP connect is enough) or an http(s) URL (any HTTP status is enough: the network carried the answer).
 */
export async function checkWitness(target: string, timeoutMs: number, dispatcher?: Dispatcher): Promise<WitnessResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    if (target.startsWith('tcp://')) {
      const m = /^tcp:\/\/\[?(.*?)\]?:(\d+)$/.exec(target);
      if (!m) return { target, ok: false, detail: 'bad tcp:// target' };
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: m[1] as string, port: Number(m[2]), signal });
        socket.once('connect', () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
      return { target, ok: true, detail: 'connected' };
    }
    // undici's request never follows redirects: a 3xx is an answer too.
    const res = await request(target, { method: 'HEAD', signal, dispatcher });
    res.body.destroy();
    return { target, ok: true, detail: `HTTP ${res.statusCode}` };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { target, ok: false, detail: signal.aborted ? `no answer within ${timeoutMs}ms` : (err.code ?? err.message) };
  }
}

/** The network is up when any witness answers; all are asked at once. */
export async function anyWitnessUp(targets: readonly string[], timeoutMs: number, dispatcher?: Dispatcher): Promise<{ up: boolean; results: WitnessResult[] }> {
  const results = await Promise.all(targets.map((t) => checkWitness(t, timeoutMs, dispatcher)));
  return { up: results.some((r) => r.ok), results };
}
