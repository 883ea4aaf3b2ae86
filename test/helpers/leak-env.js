/* global require, module, process, setImmediate, setTimeout */
/*
 * A diagnostic, not part of `npm test`: Jest's node environment that, after each test file (its afterAll
 * hooks included), names what the file left open in the process (timers, sockets, servers, child processes).
 * "A worker process has failed to exit gracefully" means a worker's last file left something open past
 * Jest's 500 ms grace; --detectOpenHandles runs in band, where such a handle has often gone by the end of
 * the run and is not reported. This one reports per file:
 *
 *   npx jest test/e2e --testEnvironment=./test/helpers/leak-env.js
 *
 * prints `open after <file>: at end [...]; 600 ms later [...]`; anything still there 600 ms later is a leak.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Jest loads a test environment with require()
const { TestEnvironment } = require('jest-environment-node');

function extra(before, now) {
  const base = [...before];
  const out = [];
  for (const r of now) {
    const i = base.indexOf(r);
    if (i >= 0) base.splice(i, 1);
    else out.push(r);
  }
  return out;
}

class LeakReportingEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
  }

  async setup() {
    this.before = process.getActiveResourcesInfo();
    await super.setup();
  }

  async teardown() {
    await new Promise((r) => setImmediate(r));
    const atEnd = extra(this.before, process.getActiveResourcesInfo());
    await new Promise((r) => setTimeout(r, 600));
    const later = extra(this.before, process.getActiveResourcesInfo());
    if (atEnd.length > 0 || later.length > 0) process.stderr.write(`open after ${this.testPath}: at end ${JSON.stringify(atEnd)}; 600 ms later ${JSON.stringify(later)}\n`);
    await super.teardown();
  }
}

module.exports = LeakReportingEnvironment;
