/**
 * Transition pairs on the simulator, as `shadowvq mbt --device sim` runs them, for the machines whose
 * pair paths found real defects: svq-switch's enable failing half-way through pointing the queues (one
 * queue's base set, its address not) left the transmit queue's frames stuck after the rollback — the
 * rollback now puts every queue back on its guest ring at the base read at suspend; migration with SVQ on
 * before it (x-svq=on): a precopy round that broke a shadow virtqueue rolled back to `cancelled` with the
 * data path dead — the rollback now rebuilds SVQ (rollingBack.restartingSvq) and the traffic check passes.
 */
import { describe, expect, it } from 'vitest';
import { runCoverage } from '../../src/mbt/coverage.js';
import { planMbt } from '../../src/mbt/index.js';
import { pairUniverse } from '../../src/mbt/pairs.js';
import { svqSim } from '../../src/mbt/sim/svq.js';
import { migrationSim } from '../../src/mbt/sim/migration.js';

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

  it('migration: every pair path runs without a failure, covered + infeasible = total; the x-svq rebuild pairs are taken, their opposites infeasible', async () => {
    const [plan] = planMbt([migrationSim]);
    const { report, coverage } = await runCoverage(plan!);
    expect(report.failureDetails.map((f) => `${f.path}: step ${f.step}: ${f.message}`)).toEqual([]);
    const p = coverage.transitionPairs;
    expect(p.uncovered).toEqual([]);
    expect(p.covered + p.infeasible).toBe(p.total);
    const pair = (a: string, b: string) => `migration.source.active.precopy.round --${a}--> then migration.source.rollingBack.stoppingLog --${b}-->`;
    const stop = (down: boolean, suspended: boolean) => `done:stopDirtyLog[!svqSwitching,!svqFailed,!svqOnByUs,${down ? 'dataPathDown' : `!dataPathDown,${suspended ? '' : '!'}deviceSuspended`}]`;
    // the pair that found the defect: x-svq, a broken SVQ in precopy, then the rollback — now into the rebuild
    const all = new Set(pairUniverse(plan!.model).all.map((x) => x.key));
    const covered = (k: string) => {
      expect(all.has(k)).toBe(true);
      expect(coverage.transitionPairs.infeasiblePairs.find((x) => x.pair === k)?.reason).toBeUndefined();
    };
    covered(pair('error:syncDirtyLog[shadowBroken]', stop(true, false)));
    // and no way around it: after a broken round the data path is always down
    const why = (k: string) => coverage.transitionPairs.infeasiblePairs.find((x) => x.pair === k)?.reason;
    expect(why(pair('error:syncDirtyLog[shadowBroken]', stop(false, false)))).toMatch(/dataPathDown holds here/);
    expect(coverage.transitionsTaken.has('migration.source.rollingBack.restartingSvq.starting --snapshot:svqRestart[!svqOnDeviceSuspended,svqOnDeviceRunning]-->')).toBe(true);
    expect(coverage.transitionsTaken.has('migration.source.rollingBack.restartingSvq.starting --snapshot:svqRestart[svqOnDeviceSuspended]-->')).toBe(true);
  }, 300_000);
});
