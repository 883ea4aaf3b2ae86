import { ConfigError, parseConfig } from '../../src/config';

const nodes = [
  { name: 'primary', url: 'http://127.0.0.1:1' },
  { name: 'fallback', url: 'http://127.0.0.1:2' },
];

describe('history config', () => {
  test('defaults: 30 days raw, 400 days hourly, 10 years daily, hourly at :17', () => {
    expect(parseConfig({ nodes }, {}, { baseDir: '/tmp' }).history).toEqual({
      keepRaw: 30 * 86_400_000,
      keepHourly: 400 * 86_400_000,
      keepDaily: 3650 * 86_400_000,
      schedule: '17 * * * *',
    });
  });

  test('durations parse; raw retention under a day, unknown keys and bad cron expressions are rejected', () => {
    expect(parseConfig({ nodes, history: { keepRaw: '7d', keepDaily: 0 } }, {}, { baseDir: '/tmp' }).history).toMatchObject({ keepRaw: 7 * 86_400_000, keepDaily: 0 });
    let problems: string[] = [];
    try {
      parseConfig({ nodes, history: { keepRaw: '6h', schedule: '61 * * * *', keep: 1 } }, {}, { baseDir: '/tmp' });
    } catch (e) {
      if (e instanceof ConfigError) problems = e.problems;
    }
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^history\.keepRaw: must be at least 86400000ms/),
        expect.stringMatching(/^history\.schedule: not a cron expression/),
        'history.keep: unknown key',
      ]),
    );
  });
});
