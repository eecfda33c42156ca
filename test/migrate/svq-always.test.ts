/**
 * QEMU's x-svq=on: machines/svq-switch switches the source's data queues to SVQ (trigger x-svq) before
 * the migration; the migration finds them shadowed, leaves them so, and a rollback keeps them shadowed.
 */
import { describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../src/migrate/transitions.js';
import { expectCompleted, migrate } from './helpers.js';

const small = { framesBefore: 300, framesAfter: 300, ramBytes: 4 << 20 };

describe('migrate with svq: always (x-svq=on)', () => {
  it('svq-switch enables SVQ before MIGRATE; the migration completes and does not switch again', async () => {
    const ts: TransitionRecord[] = [];
    const run = await migrate({ ...small, svq: 'always', onTransition: (t) => ts.push(t) });
    expectCompleted(run);
    const enables = ts.filter((t) => t.machine === 'svq-switch' && t.event === 'ENABLE');
    // one ENABLE: the x-svq switch before the migration (its own svq-switch), none by the migration's child
    expect(enables).toHaveLength(1);
    const migrate0 = ts.findIndex((t) => t.machine === 'migration' && t.event === 'MIGRATE');
    expect(ts.indexOf(enables[0]!)).toBeLessThan(migrate0);
    expect(run.world.source.backend.mode).toBe('shadow');
    expect(run.summary.stopAndCopy?.svqForwarded).toBeGreaterThan(0);
  });

  it('a cancelled migration rolls back with SVQ still on, the source intact', async () => {
    const run = await migrate({ ...small, svq: 'always', cancelAt: 'precopy' });
    expect(run.summary.outcome).toBe('rolled-back');
    expect(run.summary.verdict.sourceIntact).toBe(true);
    expect(run.world.source.backend.mode).toBe('shadow');
    expect(run.summary.traffic.lost).toBe(0);
  });
});
