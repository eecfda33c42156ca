import { describe, expect, it } from 'vitest';
import { MIGRATION_PHASES } from '../../src/migrate/controller.js';
import { migrationCell, type Cell } from '../../src/fuzz/faults.js';

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

  // GAP (src/migrate + machines/migration.ts): a rolled-back migration's error names the failed command
  // ("EIO: device acked VLAN_ADD with VIRTIO_NET_ERR (1)", "VHOST_VDPA_SUSPEND: …") but not the phase it
  // failed in (restoringCvq, stopAndCopy …); issue 8 asks for both. The summary's phase rows say it,
  // the error text does not.
  it.fails('the error of a rolled-back migration names its phase', () => {
    const faulted = cells.filter((c) => c.fault !== 'cancel');
    expect(faulted.length).toBeGreaterThan(0);
    for (const c of faulted) expect(c.namesPhase, `${c.phase} × ${c.fault}: ${c.error}`).toBe(true);
  });
});
