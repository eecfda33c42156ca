/**
 * Transition pairs on the simulator, as `shadowvq mbt --device sim` runs them, for the machines whose
 * pair paths found real defects: svq-switch's enable failing half-way through pointing the queues (one
 * queue's base set, its address not) left the transmit queue's frames stuck after the rollback — the
 * rollback now puts every queue back on its guest ring at the base read at suspend.
 */
import { describe, expect, it } from 'vitest';
import { runCoverage } from '../../src/mbt/coverage.js';
import { planMbt } from '../../src/mbt/index.js';
import { svqSim } from '../../src/mbt/sim/svq.js';

describe('transition pairs on the simulator', () => {
  it('svq-switch: every pair path runs without a failure, covered + infeasible = total', async () => {
    const [plan] = planMbt([svqSim]);
    const { report, coverage } = await runCoverage(plan!);
    expect(report.failureDetails.map((f) => `${f.path}: step ${f.step}: ${f.message}`)).toEqual([]);
    expect(report.failures).toBe(0);
    const p = coverage.transitionPairs;
    expect(p.covered + p.infeasible).toBe(p.total);
    // the pair that found the defect is among those run
    expect(p.covered).toBeGreaterThan(40);
  }, 120_000);
});
