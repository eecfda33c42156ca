import { describe, expect, it } from 'vitest';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { MIGRATION_PHASES } from '../../src/migrate/controller.js';
import { planRestore } from '../../src/state/plan.js';
import { F, FULL_PROFILE_FEATURES } from '../../src/virtio/features.js';
import { demoState, expectCompleted, migrate } from './helpers.js';

describe('migrate: the demo migration on the simulated devices', () => {
  it('completes: destination state equals the source, guest RAM identical, every frame back byte for byte', async () => {
    const run = await migrate({ ramBytes: 16 << 20 });
    expectCompleted(run);
    const s = run.summary;
    // SVQ shadowed every data queue of the 4 pairs, and forwarded guest chains
    expect(s.precopy.svqSwitched).toBe(true);
    expect(s.stopAndCopy!.svqForwarded).toBeGreaterThan(s.traffic.during);
    // precopy: the bulk round sends all of RAM, then the dirty set shrinks to the threshold
    const r = s.precopy.rounds;
    expect(r[0]!.pagesSent).toBe((16 << 20) / 4096);
    for (let i = 1; i < r.length; i++) {
      expect(r[i]!.pagesSent).toBe(r[i - 1]!.dirtyPages);
      expect(r[i]!.dirtyPages).toBeLessThan(r[i - 1]!.dirtyPages);
    }
    expect(r[r.length - 1]!.dirtyPages).toBeLessThanOrEqual(s.precopy.thresholdPages);
    // frames in flight at vm_stop were un-popped at the source and delivered by the destination
    expect(s.traffic.inFlightAtSuspend).toBe(256);
    expect(s.stopAndCopy!.inFlightHandedOver).toBeGreaterThanOrEqual(256);
    // the CVQ restore sent the whole plan, every command acked OK, batched (parallel)
    const plan = planRestore(demoState(), BigInt(s.source.negotiated));
    expect(plan.length).toBeGreaterThan(300);
    expect(s.cvq).toMatchObject({ commands: plan.length, applied: plan.length, acksOk: plan.length, acksErr: 0 });
    expect(s.cvq!.roundTrips).toBeLessThan(10);
    expect(s.downtime!.simUs).toBeGreaterThan(s.cvq!.simUs);
    // the phase table covers every phase of both ends, in order
    expect(s.phases.map((p) => p.phase)).toEqual([...MIGRATION_PHASES]);
    expect(s.transitions).toBeGreaterThan(20);
  });

  it('serial and parallel-indirect restore the same state; serial takes one round trip per command', async () => {
    for (const strategy of ['serial', 'parallel-indirect'] as const) {
      const run = await migrate({ strategy });
      expectCompleted(run);
      const c = run.summary.cvq!;
      if (strategy === 'serial') expect(c.roundTrips).toBe(c.commands);
      else expect(c.roundTrips).toBeLessThan(c.commands / 50);
    }
  });

  it('split rings (no RING_PACKED) migrate as well', async () => {
    const run = await migrate({ features: FULL_PROFILE_FEATURES & ~F.RING_PACKED });
    expectCompleted(run);
  });

  it('both ends on the vdpa_sim_net profile: completes with every frame back (receive queues keep their guest kicks under SVQ)', async () => {
    const run = await migrate({ source: new SimVdpaDevice({ name: 'src', profile: 'vdpa_sim_net' }), destination: new SimVdpaDevice({ name: 'dst', profile: 'vdpa_sim_net' }) });
    expectCompleted(run);
    expect(run.summary.traffic.during).toBeGreaterThan(0);
  });
});
