/**
 * x-svq=on (`svq: 'always'`): a migration that leaves the source's shadow data path dead — a shadow
 * virtqueue broken mid-precopy (the device used an id SVQ never made available), or every SVQ stopped by
 * the stop-and-copy drain — must roll back with the data path rebuilt (machines/migration
 * `rollingBack.restartingSvq`: SVQ stopped by hand, then started again by svq-switch from the device's
 * vring bases) and the guest's traffic flowing through it again, every frame's bytes checked by the
 * guest (src/migrate/guest.ts). Before the fix both rolled back to "cancelled" with no traffic forwarded.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { parseFault } from '../../src/device/sim/faults.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { entersPhase, type TransitionRecord } from '../../src/migrate/transitions.js';
import type { Source } from '../../src/migrate/world.js';
import { FULL_PROFILE_FEATURES } from '../../src/virtio/features.js';
import { expectRolledBack, migrate } from './helpers.js';


const small = { framesBefore: 300, framesAfter: 600, ramBytes: 4 << 20 };

const fault = (spec: string) => {
  const f = parseFault(spec);
  if (E.isLeft(f)) throw new Error(f.left.message);
  return f.right;
};

/** Every frame the guest sent came back intact, and through SVQ: forwarded by the rebuilt shadow queues. */
function expectTrafficThroughSvq(source: Source, forwardedBefore: number): void {
  expect(source.backend.mode).toBe('shadow');
  let forwarded = 0;
  for (const s of source.backend.shadows.values()) {
    expect(s.svq.state).toBe('running');
    expect(s.svq.failure).toBeUndefined();
    forwarded += s.svq.stats().forwarded;
  }
  // the rebuilt SVQs start counting from 0: the frames after the rollback went through them
  expect(forwarded).toBeGreaterThan(0);
  expect(forwarded).not.toBe(forwardedBefore);
}

// SVQ forwarding on the main thread and on one worker per queue pair (src/effects/svq.ts svqThreads)
describe.each(['main', 'per-queue-pair'] as const)('x-svq=on: a rollback rebuilds the dead shadow data path, svqThreads %s', (svqThreads) => {
  it('a shadow virtqueue broken mid-precopy: rolled back, SVQ restarted, every frame delivered byte for byte', async () => {
    let world: { source: Source } | undefined;
    let armed = false;
    const ts: TransitionRecord[] = [];
    const run = await migrate({
      ...small,
      svq: 'always',
      svqThreads,
      maxRounds: 30,
      onWorld: (w) => void (world = w),
      onTransition: (t) => {
        ts.push(t);
        // the guest runs while each round is on the wire: the device answers one receive chain with a bad id
        if (!armed && entersPhase('precopy', t)) {
          armed = true;
          (world!.source.dev as SimVdpaDevice).setFaults([{ kind: 'bad-used-id', queue: 0, times: 1 }]);
        }
      },
    });
    expect(armed).toBe(true);
    expect(run.summary.error).toMatch(/precopy.*shadow virtqueue failed: svq-0: used entry from the device: used id/);
    const s = run.summary;
    expect(s.outcome).toBe('rolled-back');
    expect(s.verdict.sourceIntact).toBe(true);
    expect(run.source.isSuspended()).toBe(false);
    // every frame that arrived is the frame sent, byte for byte, in order (no duplicate, no corruption) …
    expect(s.traffic.errors).toEqual([]);
    // … the only loss is what the broken receive queue had in flight when the device lied (its used
    // entries after the bad one were never returned): a gap the guest saw, before the rollback
    const guest = run.world.source.guest;
    expect(guest.stats.rxDropped).toBeGreaterThan(0);
    expect(s.traffic.lost).toBe(guest.stats.rxDropped);
    expect(guest.stats.rxDropped).toBeLessThanOrEqual(s.traffic.during);
    // … and every frame sent after the rollback came back through the rebuilt SVQs
    expect(s.traffic.after).toBe(small.framesAfter);
    expect(guest.outstanding()).toBe(0);
    expectTrafficThroughSvq(run.world.source, -1);
    // the restart went through machines/svq-switch (ENABLE, trigger x-svq) inside the rollback
    const states = ts.filter((t) => t.machine === 'migration').map((t) => t.toState);
    expect(states.some((s) => s.includes('restartingSvq.starting'))).toBe(true);
    expect(ts.filter((t) => t.machine === 'svq-switch' && t.event === 'ENABLE')).toHaveLength(2);
  });

  it('after drainInFlight (the destination fails, the source resumes): the SVQs the drain stopped run again, every frame delivered', async () => {
    const ts: TransitionRecord[] = [];
    const run = await migrate({ ...small, svq: 'always', svqThreads, faults: [fault('nack:VLAN_ADD')], onTransition: (t) => ts.push(t) });
    expect(run.summary.error).toMatch(/VLAN_ADD/);
    // the drain ran: the source had completed (its SVQs stopped) before the destination failed
    expect(run.summary.stopAndCopy).not.toBeNull();
    expectRolledBack(run);
    expect(run.summary.traffic.received).toBe(run.summary.traffic.sent);
    expectTrafficThroughSvq(run.world.source, run.summary.stopAndCopy!.svqForwarded);
    // ROLLBACK reached the source after its drain: SVQ stopped by hand, then started by svq-switch
    const source = ts.filter((t) => t.machine === 'migration' && t.end === 'source').map((t) => t.toState);
    expect(source).toContain('source.completed');
    expect(source.indexOf('source.rollingBack.restartingSvq.starting')).toBeGreaterThan(source.indexOf('source.completed'));
  });

  it('a CANCEL with the data path healthy does not rebuild it (the x-svq SVQs keep running as they are)', async () => {
    const ts: TransitionRecord[] = [];
    const run = await migrate({ ...small, svq: 'always', svqThreads, cancelAt: 'precopy', onTransition: (t) => ts.push(t) });
    expectRolledBack(run);
    expect(run.world.source.backend.mode).toBe('shadow');
    expect(ts.some((t) => t.machine === 'migration' && t.toState.includes('restartingSvq'))).toBe(false);
  });
});

describe('x-svq=on with one worker per queue pair: a worker lost in precopy', () => {
  it('is a broken shadow data path: rolled back, its split rings resumed at their used index on new workers, every frame delivered', async () => {
    let world: { source: Source } | undefined;
    let armed = false;
    const run = await migrate({
      ...small,
      svq: 'always',
      svqThreads: 'per-queue-pair',
      features: FULL_PROFILE_FEATURES & ~(1n << 34n),
      onWorld: (w) => void (world = w),
      onTransition: (t) => {
        // between two guest bursts (the traffic before the migration has all come back): the worker of pair 0 exits
        if (!armed && entersPhase('precopy', t)) {
          armed = true;
          world!.source.backend.injectWorkerFault(0, 'exit');
        }
      },
    });
    expect(armed).toBe(true);
    // the first request after the exit: 'crashed' once the exit event ran, 'timeout' if the request came first
    expect(run.summary.error).toMatch(/precopy.*SVQ worker (crashed|timeout)/);
    expectRolledBack(run);
    expect(run.summary.traffic.errors).toEqual([]);
    expect(run.summary.traffic.received).toBe(run.summary.traffic.sent);
    expect(run.world.source.backend.lost.get(0)).toMatch(/used index/);
    expectTrafficThroughSvq(run.world.source, -1);
  });
});
