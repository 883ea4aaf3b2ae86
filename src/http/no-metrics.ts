import type { Metrics } from './metrics';

/** Metrics for a daemon without an HTTP server: nobody can scrape them, so nothing is kept (nor prom-client loaded). */
export function noMetrics(): Metrics {
  const nothing = (): void => undefined;
  return {
    observeProbe: nothing,
    setNodeStatus: nothing,
    setPreferred: nothing,
    countTransition: nothing,
    countReport: nothing,
    heartbeat: nothing,
    watchPeerVerdicts: nothing,
    render: () => Promise.resolve(''),
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
  };
}
