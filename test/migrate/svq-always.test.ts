/**
 * QEMU's x-svq=on: machines/svq-switch switches the source's data queues to SVQ (trigger x-svq) before
 * the migration; the migration finds them shadowed, leaves them so, and a rollback keeps them shadowed.
 * Run with SVQ forwarding on the main thread and on one worker per queue pair (`svqThreads`): every
 * frame the guest receives is checked byte for byte (src/migrate/guest.ts), the destination's RAM is
 * compared with the source's, and both threadings must give the same precopy rounds (pages sent, pages
 * dirtied, frames) — the workers' dirty logs merged into the migration's equal the single thread's.
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

describe('migrate with svq: always, main thread ≡ one worker per queue pair', () => {
  it('the same precopy rounds (pages sent, dirty, frames), the same hand-over and traffic', async () => {
    const [a, b] = [await migrate({ ...small, svq: 'always', svqThreads: 'main' }), await migrate({ ...small, svq: 'always', svqThreads: 'per-queue-pair' })];
    expectCompleted(a);
    expectCompleted(b);
    const rounds = (r: typeof a) => r.summary.precopy.rounds.map(({ round, pagesSent, dirtyPages, frames }) => ({ round, pagesSent, dirtyPages, frames }));
    expect(rounds(b)).toEqual(rounds(a));
    expect(rounds(a).length).toBeGreaterThan(1);
    const sc = (r: typeof a) => ({ ...r.summary.stopAndCopy, recordBytes: undefined });
    expect(sc(b)).toEqual(sc(a));
    expect(b.summary.traffic).toEqual(a.summary.traffic);
  });
});
