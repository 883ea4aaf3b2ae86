import type { RequestContext } from './context';
import { jsonReply, textReply, type Reply } from './wire';

/**
 * llama.cpp's and vLLM's busy signals, reflecting the simulator's generation slots (slots.ts, `parallel`):
 * - llama.cpp `GET /slots` (tools/server/README.md "GET /slots"): one object per slot with `id`, `id_task`,
 *   `n_ctx`, `speculative`, `is_processing`; with --no-slots it answers 501 with llama.cpp's error shape
 *   (`{"error":{"code":501,"message":…,"type":"not_supported_error"}}`).
 * - llama.cpp `GET /metrics` (only with --metrics, else 501): Prometheus text with the gauges
 *   `llamacpp:requests_processing` and `llamacpp:requests_deferred`.
 * - vLLM `GET /metrics` (docs "Production Metrics"): `vllm:num_requests_running` and `vllm:num_requests_waiting`,
 *   labelled with `engine` and `model_name`, values as floats.
 * With `parallel: 0` (no limit) llama.cpp shows the running requests' slots and one idle slot.
 */
const notSupported = (message: string): Reply => jsonReply(501, { error: { code: 501, message, type: 'not_supported_error' } });

export function llamacppSlots(ctx: RequestContext): Reply {
  const s = ctx.sim.slots;
  if (!ctx.sim.busyEndpoints.slots) return notSupported('This server does not support slots endpoint. Start it with `--slots`');
  const total = s.parallel === 0 ? s.running + 1 : s.parallel;
  const slots = Array.from({ length: total }, (_, id) => ({ id, id_task: id < s.running ? 1000 + id : -1, n_ctx: 4096, speculative: false, is_processing: id < s.running }));
  return jsonReply(200, slots);
}

const gauge = (name: string, help: string, sample: string): string => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${sample}\n`;

export function llamacppMetrics(ctx: RequestContext): Reply {
  if (!ctx.sim.busyEndpoints.metrics) return notSupported('This server does not support metrics endpoint. Start it with `--metrics`');
  const s = ctx.sim.slots;
  const text =
    gauge('llamacpp:requests_processing', 'Number of requests processing.', `llamacpp:requests_processing ${s.running}`) +
    gauge('llamacpp:requests_deferred', 'Number of requests deferred.', `llamacpp:requests_deferred ${s.queued}`);
  return textReply(200, text, { 'content-type': 'text/plain; version=0.0.4' });
}

export function vllmMetrics(ctx: RequestContext): Reply {
  if (!ctx.sim.busyEndpoints.metrics) return jsonReply(404, { detail: 'Not Found' });
  const s = ctx.sim.slots;
  const model = ctx.sim.registry.list()[0]?.name ?? 'unknown';
  const labels = `{engine="0",model_name="${model}"}`;
  const text =
    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', `vllm:num_requests_running${labels} ${s.running.toFixed(1)}`) +
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', `vllm:num_requests_waiting${labels} ${s.queued.toFixed(1)}`);
  return textReply(200, text, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
}
