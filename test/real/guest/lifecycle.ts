/**
 * machines/device-lifecycle on the real device, with the project's effects (src/effects/lifecycle.ts) on
 * the vhost-vdpa backend, driven through
 * init → FEATURES_OK re-read → (driver setup) DRIVER_OK → SUSPEND/RESUME → RESET, and the refusal path to FAILED.
 */
import { createActor, waitFor } from 'xstate';
import { deviceLifecycleMachine } from '../../../machines/device-lifecycle.js';
import type { VdpaDevice } from '../../../src/device/types.js';
import { bind } from '../../../machines/contract.js';
import { lifecycleEffects } from '../../../src/effects/lifecycle.js';
import { STATUS } from '../../../src/state/lifecycle.js';
import { F, maskOf } from '../../../src/virtio/features.js';
import { eq, ok, right, Suite } from '../framework.js';
import { backendMask, own as ownWith } from './bringup.js';
import type { GuestContext } from './context.js';

export const lifecycle = new Suite<GuestContext>('lifecycle');

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** The machine with the project's effects (src/effects/lifecycle.ts) bound to this device. */
const machineOn = (dev: VdpaDevice) => bind(deviceLifecycleMachine, lifecycleEffects(dev));

const WANT = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'CTRL_RX', 'MQ', 'CTRL_VLAN']);

const own = (dev: VdpaDevice): void => void ownWith(dev, backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'IOTLB_ASID', 'SUSPEND', 'RESUME']));

lifecycle.test('init → FEATURES_OK re-read → DRIVER_OK → SUSPEND → RESUME → RESET through machines/device-lifecycle', (ctx) =>
  ctx.withDevice(async (dev) => {
    own(dev);
    const actor = createActor(machineOn(dev), { input: { wanted: hex(WANT) } });
    actor.start();
    actor.send({ type: 'RESET' });
    await waitFor(actor, (s) => s.matches('reset'), { timeout: 30_000 });
    actor.send({ type: 'START' });
    // §3.1.1 step 7: after FEATURES_OK the machine waits for the driver's own setup, then DRIVER_OK
    const accepted = await waitFor(actor, (s) => s.matches({ active: { featuresOk: 'accepted' } }) || s.matches('failed'), { timeout: 30_000 });
    ok(accepted.matches({ active: { featuresOk: 'accepted' } }), `features accepted, got ${JSON.stringify(accepted.value)} (${accepted.context.error})`);
    eq(right(dev.getStatus(), 'GET_STATUS'), STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK, 'device status before DRIVER_OK');
    actor.send({ type: 'DRIVER_OK' });
    const running = await waitFor(actor, (s) => s.matches({ active: { driverOk: 'running' } }) || s.matches('failed'), { timeout: 30_000 });
    ok(running.matches({ active: { driverOk: 'running' } }), `running, got ${JSON.stringify(running.value)} (${running.context.error})`);
    const offered = right(dev.getFeatures(), 'GET_FEATURES');
    eq(running.context.offered, hex(offered), 'offer read by the machine');
    eq(running.context.negotiated, hex(offered & WANT), 'negotiated = offer ∩ wanted (no MQ/CTRL_RX/CTRL_VLAN on vdpa_sim_net)');
    ok((BigInt(running.context.negotiated) & (F.MQ | F.CTRL_RX | F.CTRL_VLAN)) === 0n, 'features the device lacks are not negotiated');
    const S = STATUS;
    eq(right(dev.getStatus(), 'GET_STATUS'), S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK, 'device status');
    actor.send({ type: 'SUSPEND' });
    const susp = await waitFor(actor, (s) => s.matches({ active: { driverOk: 'suspended' } }) || s.matches({ active: { driverOk: 'running' } }) && s.context.error !== null, { timeout: 30_000 });
    ok(susp.matches({ active: { driverOk: 'suspended' } }), `suspended, got ${JSON.stringify(susp.value)} (${susp.context.error})`);
    actor.send({ type: 'RESUME' });
    await waitFor(actor, (s) => s.matches({ active: { driverOk: 'running' } }), { timeout: 30_000 });
    actor.send({ type: 'RESET' });
    await waitFor(actor, (s) => s.matches('reset'), { timeout: 30_000 });
    eq(right(dev.getStatus(), 'GET_STATUS after RESET'), 0, 'device status after reset');
    actor.stop();
  }),
);

lifecycle.test('a required feature the device lacks (MQ) ends in FAILED, written to the device', (ctx) =>
  ctx.withDevice(async (dev) => {
    own(dev);
    // START resets the device first (§3.1.1 step 1)
    const actor = createActor(machineOn(dev), {
      input: { wanted: hex(WANT), required: hex(F.VERSION_1 | F.MQ) },
    });
    actor.start();
    actor.send({ type: 'START' });
    const s = await waitFor(actor, (x) => x.matches({ failed: 'givenUp' }), { timeout: 30_000 });
    ok(s.context.error !== null && /MQ/.test(s.context.error), `error names MQ: ${s.context.error}`);
    const st = right(dev.getStatus(), 'GET_STATUS');
    ok((st & STATUS.FAILED) !== 0, `FAILED written to the device (status 0x${st.toString(16)})`);
    ok((st & STATUS.FEATURES_OK) === 0, 'never reached FEATURES_OK');
    actor.stop();
  }),
);
