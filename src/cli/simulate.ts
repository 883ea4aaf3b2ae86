import { parseBytes } from '../simulator/residency';
import { FAULTS, FLAVORS, startSimulator, startSimulatorControl, type Fault, type SimFlavor } from '../simulator';
import { parseDuration } from '../util/duration';
import { parseFlags, reportError, UsageError, type CliIo } from './io';

const HELP = `Usage: llm-sentinel simulate [--port N] [--host ADDR] [--model NAME]... [--answer TEXT]
                             [--fault NAME] [--control-port N] [--token-delay 5ms] [--load-time 0ms]
                             [--flavor ollama|ollama-legacy|llamacpp|vllm] [--reject-thinking-knob]
                             [--memory 8g] [--model-size NAME=5g]...
                             [--parallel N] [--no-slots] [--metrics]

Runs an Ollama-compatible node on loopback for demos and tests. --control-port starts a small control API:
  curl -X POST localhost:<control-port>/fault -H 'content-type: application/json' -d '{"fault":"hang"}'
--flavor plays another server (docs/simulator.md "Flavours"); a qwen3 or deepseek-r1 model thinks as that
server documents. --reject-thinking-knob answers any thinking knob with 400, like an older strict server.
--memory gives the node room for models (default unlimited): a model that does not fit evicts the least
recently used idle one, like Ollama; --model-size overrides a model's size (default from its tag).
--parallel N serves N generations at once like OLLAMA_NUM_PARALLEL (Ollama's default is 1); the rest wait
in FIFO order inside the server, with no header sent (default 0: no limit).
--no-slots makes llama.cpp's GET /slots answer 501 (as llama-server --no-slots); --metrics serves llama.cpp's
GET /metrics (as llama-server --metrics; vLLM always serves its /metrics).
Faults: ${'FAULTS_LIST'}
`;

function port(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number 0-65535, got ${JSON.stringify(v)}`);
  return n;
}

function ms(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const d = parseDuration(v);
  if (d === undefined) throw new UsageError(`--${name} must be a duration like 5ms or 2s, got ${JSON.stringify(v)}`);
  return d;
}

function bytes(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = parseBytes(v);
  if (n === undefined) throw new UsageError(`--${name} must be a size like 8g, 800m or a number of bytes, got ${JSON.stringify(v)}`);
  return n;
}

function sizes(list: string[] | undefined): Record<string, number> | undefined {
  if (!list) return undefined;
  const out: Record<string, number> = {};
  for (const item of list) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--model-size must be NAME=SIZE like qwen3:8b=5g, got ${JSON.stringify(item)}`);
    out[item.slice(0, eq)] = bytes('model-size', item.slice(eq + 1)) as number;
  }
  return out;
}

function parallelFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isInteger(n)) throw new UsageError(`--parallel must be a whole number >= 0 (0 = no limit), got ${JSON.stringify(v)}`);
  return n;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values } = parseFlags(argv, {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      model: { type: 'string', short: 'm', multiple: true },
      answer: { type: 'string' },
      fault: { type: 'string' },
      'control-port': { type: 'string' },
      'token-delay': { type: 'string' },
      'load-time': { type: 'string' },
      memory: { type: 'string' },
      'model-size': { type: 'string', multiple: true },
      flavor: { type: 'string' },
      'reject-thinking-knob': { type: 'boolean' },
      parallel: { type: 'string' },
      'no-slots': { type: 'boolean' },
      metrics: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(HELP.replace('FAULTS_LIST', FAULTS.join(', ')));
      return 0;
    }
    if (values.fault !== undefined && !(FAULTS as readonly string[]).includes(values.fault)) {
      throw new UsageError(`--fault: unknown fault ${JSON.stringify(values.fault)}; one of: ${FAULTS.join(', ')}`);
    }
    if (values.flavor !== undefined && !(FLAVORS as readonly string[]).includes(values.flavor)) {
      throw new UsageError(`--flavor: unknown flavor ${JSON.stringify(values.flavor)}; one of: ${FLAVORS.join(', ')}`);
    }
    const host = values.host ?? '127.0.0.1';
    const sim = await startSimulator({
      port: port('port', values.port, 11434),
      host,
      models: values.model,
      answer: values.answer,
      tokenDelayMs: ms('token-delay', values['token-delay']),
      loadMs: ms('load-time', values['load-time']),
      flavor: values.flavor as SimFlavor | undefined,
      rejectThinkingKnob: values['reject-thinking-knob'],
      memoryBytes: bytes('memory', values.memory),
      modelSizes: sizes(values['model-size']),
      parallel: parallelFlag(values.parallel),
      busyEndpoints: { slots: values['no-slots'] ? false : undefined, metrics: values.metrics },
    });
    if (values.fault) await sim.setFault(values.fault as Fault);
    const control = values['control-port'] !== undefined ? await startSimulatorControl(sim, port('control-port', values['control-port'], 0), host) : undefined;
    io.stdout.write(`simulated Ollama node at ${sim.url}${control ? `, control at ${control.url}` : ''} (fault: ${sim.fault})\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await control?.close();
    await sim.close();
    return 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      io.stderr.write(`llm-sentinel simulate: ${(e as Error).message}: choose another --port\n`);
      return 1;
    }
    return reportError(e, io, 'simulate');
  }
}
