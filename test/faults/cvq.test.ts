import { beforeAll, describe, expect, it } from 'vitest';
import { CVQ_PHASES, FAULT_NAMES, cvqMatrix, type Cell } from '../../testkit/fuzz/faults.js';

describe('fault matrix: CVQ restore through machines/cvq-command on the simulated device', () => {
  let cells: Cell[] = [];
  beforeAll(async () => {
    cells = await cvqMatrix();
  }, 60_000);

  it('covers every strategy and every fault', () => {
    expect(cells).toHaveLength(CVQ_PHASES.length * FAULT_NAMES.length);
    expect(cells.filter((c) => c.outcome !== 'n/a')).toHaveLength(CVQ_PHASES.length * 6);
  });

  it('every CVQ fault ends the restore in its typed error (EIO / ETIMEDOUT), never success, never a throw', () => {
    for (const c of cells.filter((x) => x.outcome !== 'n/a')) {
      expect(c.outcome, `${c.phase} × ${c.fault}`).toBe('error');
      expect(c.fired, `${c.phase} × ${c.fault}`).toBe(true);
      expect(c.error, `${c.phase} × ${c.fault}`).toMatch(/^(EIO|ETIMEDOUT) /);
    }
  });

  it('the faulted command is never reported applied, and the failure names it (or its batch)', () => {
    for (const c of cells) expect(c.problems, `${c.phase} × ${c.fault}`).toEqual([]);
    for (const c of cells.filter((x) => x.fault === 'nack' || x.fault === 'wrong-used-len')) expect(c.error).toContain('VLAN_ADD');
  });
});
