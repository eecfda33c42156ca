import { beforeAll, describe, expect, it } from 'vitest';
import { CVQ_PHASES, KTH_FAULTS, UNFIREABLE, cvqKthMatrix, unfiredMatrix, type Cell } from '../../testkit/fuzz/faults.js';

describe('fault matrix: a CVQ fault on the k-th command of a many-batch restore is blamed on exactly that command', () => {
  let cells: Cell[] = [];
  beforeAll(async () => {
    // a batch's last command and the next batch's first (npm run faults runs all five positions)
    cells = await cvqKthMatrix(undefined, ['batch-end', 'next-batch']);
  }, 120_000);

  it('covers every strategy, both positions and every CVQ fault; each fires once and is named', () => {
    expect(cells).toHaveLength(CVQ_PHASES.length * 2 * KTH_FAULTS.length);
    for (const c of cells) {
      expect(c.problems, `${c.phase} × ${c.fault}`).toEqual([]);
      expect(c.fired).toBe(true);
      expect(c.outcome).toBe('error');
    }
    // serial has one command in flight: even a bad used id is attributed to it
    for (const c of cells.filter((x) => x.phase.startsWith('serial') && x.fault === 'bad-used-id')) expect(c.error, c.phase).toMatch(/under used id .* \(#\d+\)|\(#\d+\) under used id/);
  });
});

describe('fault matrix: faults that cannot fire', () => {
  it('complete the restore and are counted as never fired, under every strategy', async () => {
    const cells = await unfiredMatrix();
    expect(cells).toHaveLength(CVQ_PHASES.length * UNFIREABLE.length);
    for (const c of cells) {
      expect(c.problems, c.phase).toEqual([]);
      expect(c.fired).toBe(false);
      expect(c.outcome).toBe('completed');
    }
  }, 60_000);
});
