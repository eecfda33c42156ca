/**
 * machines/device-lifecycle on the real device: its effects bound to the vhost-vdpa uAPI, driven through
 * init → FEATURES_OK re-read → DRIVER_OK → SUSPEND/RESUME → RESET, and the refusal path to FAILED.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, fromPromise, waitFor } from 'xstate';
import { deviceLifecycleMachine, type FeaturesOutput, type StatusOutput } from '../../../machines/device-lifecycle.js';
import type { DeviceError, VdpaDevice } from '../../../src/device/types.js';
import { STATUS } from '../../../src/state/lifecycle.js';
import { F, maskOf } from '../../../src/virtio/features.js';
import { eq, ok, right, Suite } from '../framework.js';
import { backendMask } from './bringup.js';
import type { GuestContext } from './context.js';

export const lifecycle = new Suite<GuestContext>('lifecycle');

const unwrap = <T>(e: E.Either<DeviceError, T>): T => {
  if (E.isLeft(e)) throw e.left;
  return e.right;
};
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** The lifecycle machine's effects on a VdpaDevice (VHOST_VDPA_{GET,SET}_STATUS, VHOST_{GET,SET}_FEATURES, SUSPEND, RESUME). */
export function lifecycleActors(dev: VdpaDevice) {
  return {
    resetDevice: fromPromise<StatusOutput, { timeoutMs: number }>(async ({ input }) => {
      unwrap(dev.setStatus(0));
      const deadline = performance.now() + input.timeoutMs;
      // §2.4.2: the reset is complete when status reads back 0
      for (;;) {
        const st = unwrap(dev.getStatus());
        if (st === 0) return { status: 0 };
        if (performance.now() > deadline) throw new Error(`reset: status still 0x${st.toString(16)} after ${input.timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 1));
      }
    }),
    writeStatus: fromPromise<StatusOutput, { status: number }>(async ({ input }) => {
      unwrap(dev.setStatus(input.status));
      return { status: input.status };
    }),
    readStatus: fromPromise<StatusOutput, void>(async () => ({ status: unwrap(dev.getStatus()) })),
    readFeatures: fromPromise<FeaturesOutput, void>(async () => ({ features: hex(unwrap(dev.getFeatures())) })),
    writeFeatures: fromPromise<FeaturesOutput, { features: string }>(async ({ input }) => {
      unwrap(dev.setFeatures(BigInt(input.features)));
      return { features: input.features };
    }),
    suspendDevice: fromPromise<void, void>(async () => unwrap(dev.suspend())),
    resumeDevice: fromPromise<void, void>(async () => unwrap(dev.resume())),
  };
}

const WANT = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'CTRL_RX', 'MQ', 'CTRL_VLAN']);

function own(dev: VdpaDevice): void {
  right(dev.setOwner(), 'VHOST_SET_OWNER');
  const offered = right(dev.getBackendFeatures(), 'GET_BACKEND_FEATURES');
  right(dev.setBackendFeatures(offered & backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'IOTLB_ASID', 'SUSPEND', 'RESUME'])), 'SET_BACKEND_FEATURES');
}

lifecycle.test('init → FEATURES_OK re-read → DRIVER_OK → SUSPEND → RESUME → RESET through machines/device-lifecycle', (ctx) =>
  ctx.withDevice(async (dev) => {
    own(dev);
    const actor = createActor(deviceLifecycleMachine.provide({ actors: lifecycleActors(dev) }), { input: { wanted: hex(WANT) } });
    actor.start();
    actor.send({ type: 'RESET' });
    await waitFor(actor, (s) => s.matches('reset'), { timeout: 5000 });
    actor.send({ type: 'START' });
    const running = await waitFor(actor, (s) => s.matches({ active: { driverOk: 'running' } }) || s.matches('failed'), { timeout: 5000 });
    ok(running.matches({ active: { driverOk: 'running' } }), `running, got ${JSON.stringify(running.value)} (${running.context.error})`);
    const offered = right(dev.getFeatures(), 'GET_FEATURES');
    eq(running.context.offered, hex(offered), 'offer read by the machine');
    eq(running.context.negotiated, hex(offered & WANT), 'negotiated = offer ∩ wanted (no MQ/CTRL_RX/CTRL_VLAN on vdpa_sim_net)');
    ok((BigInt(running.context.negotiated) & (F.MQ | F.CTRL_RX | F.CTRL_VLAN)) === 0n, 'features the device lacks are not negotiated');
    const S = STATUS;
    eq(right(dev.getStatus(), 'GET_STATUS'), S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK, 'device status');
    actor.send({ type: 'SUSPEND' });
    const susp = await waitFor(actor, (s) => s.matches({ active: { driverOk: 'suspended' } }) || s.matches({ active: { driverOk: 'running' } }) && s.context.error !== null, { timeout: 5000 });
    ok(susp.matches({ active: { driverOk: 'suspended' } }), `suspended, got ${JSON.stringify(susp.value)} (${susp.context.error})`);
    actor.send({ type: 'RESUME' });
    await waitFor(actor, (s) => s.matches({ active: { driverOk: 'running' } }), { timeout: 5000 });
    actor.send({ type: 'RESET' });
    await waitFor(actor, (s) => s.matches('reset'), { timeout: 5000 });
    eq(right(dev.getStatus(), 'GET_STATUS after RESET'), 0, 'device status after reset');
    actor.stop();
  }),
);

lifecycle.test('a required feature the device lacks (MQ) ends in FAILED, written to the device', (ctx) =>
  ctx.withDevice(async (dev) => {
    own(dev);
    right(dev.setStatus(0), 'reset');
    const actor = createActor(deviceLifecycleMachine.provide({ actors: lifecycleActors(dev) }), {
      input: { wanted: hex(WANT), required: hex(F.VERSION_1 | F.MQ) },
    });
    actor.start();
    actor.send({ type: 'START' });
    const s = await waitFor(actor, (x) => x.matches({ failed: 'givenUp' }), { timeout: 5000 });
    ok(s.context.error !== null && /MQ/.test(s.context.error), `error names MQ: ${s.context.error}`);
    const st = right(dev.getStatus(), 'GET_STATUS');
    ok((st & STATUS.FAILED) !== 0, `FAILED written to the device (status 0x${st.toString(16)})`);
    ok((st & STATUS.FEATURES_OK) === 0, 'never reached FEATURES_OK');
    actor.stop();
  }),
);
