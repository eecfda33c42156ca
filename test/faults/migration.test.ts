import { describe, expect, it } from 'vitest';
import { MIGRATION_PHASES } from '../../src/migrate/controller.js';
import { migrationCell, type Cell } from '../../testkit/fuzz/faults.js';

/** A slice of the migration block of the matrix (the whole block runs in `npm run faults`). */
const SLICE = [
  ...MIGRATION_PHASES.map((p) => [p, 'cancel'] as const),
  ...(['nack', 'delay-ack', 'no-answer', 'wrong-used-len', 'bad-used-id', 'needs-reset'] as const).map((f) => ['restoringCvq', f] as const),
  ['setup', 'suspend-fails'] as const,
  ['setup', 'iotlb-map-fails'] as const,
  ['stopAndCopy', 'suspend-fails'] as const,
];

describe('fault matrix: migration on two simulated devices (CANCEL in every phase, every CVQ fault, device faults)', () => {
  const cells: Cell[] = [];

  it.each(SLICE)('%s × %s ends completed or rolled back, source intact, nothing lost, the error names the command', async (phase, fault) => {
    const c = await migrationCell(phase, fault, { ramBytes: 2 << 20, frames: 200 });
    cells.push(c);
    expect(c.problems).toEqual([]);
    expect(c.fired, 'the fault reached the phase').toBe(true);
    // a delayed ack inside the restore's timeout is answered late and the migration completes
    expect(c.outcome).toBe(fault === 'delay-ack' ? 'completed' : 'rolled-back');
    expect(c.namesCommand, String(c.error)).toBe(true);
  });

  // Was a gap (found by this matrix): the error named the failed command but not the phase; it now
  // starts with the phase path ("destination.active.restoringCvq: EIO: device acked VLAN_ADD …").
  it('the error of a rolled-back migration names its phase as well as the command', () => {
    const back = cells.filter((c) => c.outcome === 'rolled-back');
    expect(back.length).toBeGreaterThan(10);
    for (const c of back) expect(c.namesPhase, `${c.phase} × ${c.fault}: ${c.error}`).toBe(true);
  });
});
