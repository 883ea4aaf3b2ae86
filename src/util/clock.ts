/**
 * Time, injected. `now()` is the wall clock (epoch ms) used for timestamps people read; `mono()` is a
 * monotonic reading (ms) used for durations and for detecting wall-clock jumps (a Mac waking from sleep,
 * NTP steps). Core logic never calls Date.now() itself.
 */
export interface Clock {
  now(): number;
  mono(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  mono: () => performance.now(),
};

/** A clock tests move by hand. `jump` moves only the wall clock (sleep/wake or NTP step). */
export class FakeClock implements Clock {
  constructor(
    private wall = Date.UTC(2026, 0, 1),
    private monotonic = 1_000,
  ) {}
  now(): number {
    return this.wall;
  }
  mono(): number {
    return this.monotonic;
  }
  advance(ms: number): void {
    this.wall += ms;
    this.monotonic += ms;
  }
  jump(ms: number): void {
    this.wall += ms;
  }
}
