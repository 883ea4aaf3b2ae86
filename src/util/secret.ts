import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A secret value from config (header value, SMTP password, HTTP token). It prints as `[redacted]`
 * everywhere: string conversion, JSON, util.inspect (and so pino and console). Only `reveal()` gives
 * the value, and only the code that sends it on the wire calls it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}
