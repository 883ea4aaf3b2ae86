/*
 * A faketime-like wrapper for daemon child processes in tests (loaded with NODE_OPTIONS=--require): the wall
 * clock (Date.now, new Date()) runs `offset` ms off, the offset read from the file named by
 * SENTINEL_TEST_CLOCK_FILE every 100 ms, so a test can step a running daemon's clock (±2 min) while its
 * monotonic clock (performance.now) goes on. Test-only: production code has no switch for it.
 */
'use strict';
/* global require, process, setInterval */
// A preload script runs before any module system of ours: plain CommonJS.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs');
const file = process.env.SENTINEL_TEST_CLOCK_FILE;
if (file) {
  let offset = 0;
  const read = () => {
    try {
      const v = Number(fs.readFileSync(file, 'utf8'));
      if (Number.isFinite(v)) offset = v;
    } catch {
      /* no file yet: no offset */
    }
  };
  read();
  setInterval(read, 100).unref();
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class OffsetDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + offset);
      else super(...args);
    }
    static now() {
      return realNow() + offset;
    }
  }
  globalThis.Date = OffsetDate;
}
