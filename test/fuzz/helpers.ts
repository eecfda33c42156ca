/** Runs a fuzz target's fixed-seed slice inside vitest: the first failing case fails the test, shrunk. */
import fc from 'fast-check';
import { judge, type FuzzTarget } from '../../testkit/fuzz/target.js';
import { show } from '../../testkit/fuzz/runner.js';

/** Seed of the slice `npm test` runs; `npm run fuzz -- --seed S --runs N` explores further. */
export const SEED = 0x5eed;

export async function assertTarget<T>(t: FuzzTarget<T>, numRuns: number, seed = SEED): Promise<void> {
  await fc.assert(
    fc.asyncProperty(t.arbitrary, async (x) => {
      const verdict = await judge(t, x);
      if (verdict !== undefined) throw new Error(`${t.kind}: ${verdict}\n  input: ${show(x)}`);
    }),
    { numRuns, seed },
  );
}
