import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logging';

/** Collects written lines: pino's JSON lines, or a CLI's stdout/stderr. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  entries(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** The one log capture: a real logger (with the production redaction) whose JSON lines are kept. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: string[]; capture: LogCapture } {
  const capture = new LogCapture();
  return { logger: createLogger({ level, destination: capture }), lines: capture.lines, capture };
}
