import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logging';

/** Collects written lines: pino's JSON lines, or a CLI's stdout/stderr. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  /** The lines that are JSON (pino's), parsed as they arrive. */
  readonly parsed: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n').filter((l) => l !== '')) {
      this.lines.push(line);
      try {
        this.parsed.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A CLI's plain output: kept in `lines` only.
      }
    }
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
