import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor } from 'xstate';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { bind } from '../../machines/contract.js';
import { lifecycleEffects } from '../../src/effects/lifecycle.js';
import { planMbt, reportComplete, runMachine } from '../../src/mbt/index.js';
import { faultyDevice, SIM_HARNESSES } from '../../src/mbt/sim.js';
import { STATUS } from '../../src/state/lifecycle.js';
import { F } from '../../src/virtio/features.js';

describe('model-based paths on the simulated device (real effects)', () => {
  it.each(SIM_HARNESSES.map((h) => [h.machine.id, h] as const))('%s: every state and transition, no failure', async (_, harness) => {
    const [plan] = planMbt([harness]);
    const r = await runMachine(plan!);
    expect(r.failureDetails).toEqual([]);
    // all but what the harness names impossible on a device (each with its reason)
    expect(reportComplete(r)).toBe(true);
    expect(r.transitions.covered + r.impossible.filter((i) => i.edge.includes('-->')).length).toBe(r.transitions.total);
  }, 120_000);
});

describe('device-lifecycle bound to the simulator', () => {
  it('drives a device to DRIVER_OK with the negotiated subset, suspends and resumes it', async () => {
    const sim = new SimVdpaDevice({ profile: 'vdpa_sim_net' });
    expect(E.isRight(sim.setOwner())).toBe(true);
    const wanted = F.VERSION_1 | F.ACCESS_PLATFORM | F.CTRL_VQ | F.CTRL_MAC_ADDR | F.CTRL_RX | F.MQ;
    const actor = createActor(bind(deviceLifecycleMachine, lifecycleEffects(sim)), { input: { wanted: `0x${wanted.toString(16)}` } });
    actor.start();
    actor.send({ type: 'START' });
    await waitFor(actor, (s) => s.matches({ active: { featuresOk: 'accepted' } }));
    actor.send({ type: 'DRIVER_OK' });
    const running = await waitFor(actor, (s) => s.matches({ active: { driverOk: 'running' } }) || s.matches('failed'));
    expect(running.value).toEqual({ active: { driverOk: 'running' } });
    // vdpa_sim_net has no CTRL_RX and no MQ: they are not negotiated
    expect(sim.negotiatedFeatures()).toBe(F.VERSION_1 | F.ACCESS_PLATFORM | F.CTRL_VQ | F.CTRL_MAC_ADDR);
    expect(sim.getStatus()).toEqual(E.right(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK));
    actor.send({ type: 'SUSPEND' });
    await waitFor(actor, (s) => s.matches({ active: { driverOk: 'suspended' } }));
    expect(sim.isSuspended()).toBe(true);
    actor.send({ type: 'RESUME' });
    await waitFor(actor, (s) => s.matches({ active: { driverOk: 'running' } }));
    expect(sim.isSuspended()).toBe(false);
    actor.send({ type: 'RESET' });
    await waitFor(actor, (s) => s.matches('reset'));
    expect(sim.getStatus()).toEqual(E.right(0));
    actor.stop();
  });

  it('a device that refuses FEATURES_OK ends in FAILED with the reason', async () => {
    const sim = new SimVdpaDevice({ profile: 'full' });
    sim.setOwner();
    const f = faultyDevice(sim);
    f.refuseFeaturesOkOnce();
    const actor = createActor(bind(deviceLifecycleMachine, lifecycleEffects(f.device)), { input: { wanted: `0x${(F.VERSION_1 | F.ACCESS_PLATFORM | F.CTRL_VQ).toString(16)}` } });
    actor.start();
    actor.send({ type: 'START' });
    const s = await waitFor(actor, (x) => x.matches({ failed: 'givenUp' }));
    expect(s.context.error).toMatch(/cleared FEATURES_OK/);
    expect(E.getOrElse(() => 0)(sim.getStatus()) & STATUS.FAILED).toBe(STATUS.FAILED);
    actor.stop();
  });
});
