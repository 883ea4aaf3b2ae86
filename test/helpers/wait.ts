export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The one polling helper, for things no event announces. Polls `check` until it returns a value other than
 * undefined, null or false, and resolves with that value; rejects naming `what` after `timeoutMs`.
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 5_000, pollMs = 50): Promise<Exclude<T, undefined | null | false>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(pollMs);
  }
}
