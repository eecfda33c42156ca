/**
 * QEMU's x-svq=on: machines/svq-switch switches the source's data queues to SVQ (trigger x-svq) before
 * the migration; the migration finds them shadowed, leaves them so, and a rollback keeps them shadowed.
 * Run with SVQ forwarding on the main thread and on one worker per queue pair (`svqThreads`): every
 * frame the guest receives is checked byte for byte (src/migrate/guest.ts), and the destination's RAM
 * is compared with the source's page by page at stop-and-copy — a page a worker wrote outside the
 * merged dirty log would differ there. (Round-by-round equality of the logs is checked where traffic is
 * quiesced: test/svq/backend-threads.test.ts, test/svq/worker-dirty.test.ts; here the guest's buffer
 * choice depends on completion timing, which differs between threads.)
 */
import { describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../src/migrate/transitions.js';
import { expectCompleted, migrate } from './helpers.js';

const small = { framesBefore: 300, framesAfter: 300, ramBytes: 4 << 20 };

describe.each(['main', 'per-queue-pair'] as const)('migrate with svq: always (x-svq=on), svqThreads %s', (svqThreads) => {
  it('svq-switch enables SVQ before MIGRATE; the migration completes and does not switch again', async () => {
    const ts: TransitionRecord[] = [];
    const run = await migrate({ ...small, svq: 'always', svqThreads, onTransition: (t) => ts.push(t) });
    expectCompleted(run);
    expect(run.world.source.backend.threads).toBe(svqThreads);
    const enables = ts.filter((t) => t.machine === 'svq-switch' && t.event === 'ENABLE');
    // one ENABLE: the x-svq switch before the migration (its own svq-switch), none by the migration's child
    expect(enables).toHaveLength(1);
    const migrate0 = ts.findIndex((t) => t.machine === 'migration' && t.event === 'MIGRATE');
    expect(ts.indexOf(enables[0]!)).toBeLessThan(migrate0);
    expect(run.world.source.backend.mode).toBe('shadow');
    expect(run.summary.stopAndCopy?.svqForwarded).toBeGreaterThan(0);
  });

  it('a cancelled migration rolls back with SVQ still on, the source intact', async () => {
    const run = await migrate({ ...small, svq: 'always', svqThreads, cancelAt: 'precopy' });
    expect(run.summary.outcome).toBe('rolled-back');
    expect(run.summary.verdict.sourceIntact).toBe(true);
    expect(run.world.source.backend.mode).toBe('shadow');
    expect(run.summary.traffic.lost).toBe(0);
    expect(run.summary.traffic.errors).toEqual([]);
  });
});
