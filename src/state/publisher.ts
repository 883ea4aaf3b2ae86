import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from '../logging';
import type { PublishedState } from './types';
import { parseState } from './validate';
import { writeFileAtomic } from './writer';

export interface Published {
  json: string;
  /** A strong ETag of the exact bytes, for GET /state. */
  etag: string;
  state: PublishedState;
}

/**
 * Publishes the state document: serialises it once, keeps it (with its ETag) for the HTTP API, and writes the
 * state file atomically. A failed write keeps the previous file intact and is logged once per distinct error,
 * not every heartbeat. Also reads the previous run's file back, so a restart starts from what apps saw.
 */
export class StatePublisher {
  #published: Published | undefined;
  #lastWriteError: string | undefined;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  get published(): Published | undefined {
    return this.#published;
  }

  /** The error code of the last failed write, while the file cannot be written. */
  get writeError(): string | undefined {
    return this.#lastWriteError;
  }

  /** Returns the JSON when the file was written, undefined when only the in-memory copy changed. */
  publish(doc: PublishedState): string | undefined {
    const json = `${JSON.stringify(doc, null, 2)}\n`;
    this.#published = { json, etag: `"${createHash('sha1').update(json).digest('base64url')}"`, state: doc };
    try {
      writeFileAtomic(this.file, json, 0o644);
      if (this.#lastWriteError) this.logger.info({ file: this.file }, 'state file writable again');
      this.#lastWriteError = undefined;
      return json;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      if (code !== this.#lastWriteError) this.logger.error({ file: this.file, code, err: e }, 'could not write the state file; the previous one is kept');
      this.#lastWriteError = code;
      return undefined;
    }
  }

  /** The state file a previous run left, if it is there and valid. */
  readPrevious(): PublishedState | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    const parsed = parseState(text);
    if (!parsed.ok) {
      this.logger.warn({ file: this.file, error: parsed.error }, 'ignoring the previous state file');
      return undefined;
    }
    return parsed.state;
  }
}
