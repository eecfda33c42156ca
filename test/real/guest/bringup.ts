/**
 * Device bring-up shared by the in-guest tests, in QEMU's order (hw/virtio/vhost-vdpa.c):
 * SET_OWNER → GET/SET_BACKEND_FEATURES, then the driver's §3.1.1 sequence through
 * machines/device-lifecycle (`startDevice`, src/effects/lifecycle.ts): reset, ACKNOWLEDGE | DRIVER,
 * SET_FEATURES, FEATURES_OK (re-read: the device may refuse, step 6), the test's own step 7 (`setup`),
 * DRIVER_OK. No test writes the status byte itself except where it tests the kernel's raw uAPI.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Actor } from 'xstate';
import { backendMask, type VdpaDevice } from '../../../src/device/types.js';
import { startDevice } from '../../../src/effects/lifecycle.js';
import { VIRTIO_CONFIG_S } from '../../../src/virtio/status.js';
import type { deviceLifecycleMachine } from '../../../machines/device-lifecycle.js';
import { right } from '../framework.js';

export { backendMask, VIRTIO_CONFIG_S };

export interface Negotiated {
  readonly features: bigint;
  readonly backend: bigint;
}

export interface BroughtUp<T> extends Negotiated {
  readonly setup: T;
  /** The lifecycle actor at DRIVER_OK (SUSPEND / RESUME / RESET go to it); stop it when done. */
  readonly actor: Actor<typeof deviceLifecycleMachine>;
}

/** Own the device and ack the wanted backend features it offers. */
export function own(dev: VdpaDevice, wantBackend: bigint): bigint {
  right(dev.setOwner(), 'VHOST_SET_OWNER');
  const backend = right(dev.getBackendFeatures(), 'VHOST_GET_BACKEND_FEATURES') & wantBackend;
  right(dev.setBackendFeatures(backend), 'VHOST_SET_BACKEND_FEATURES');
  return backend;
}

/**
 * Own the device, ack the wanted backend features it offers, and bring it up through
 * machines/device-lifecycle negotiating `want` (∩ the device's offer); `setup(negotiated)` is the
 * driver's step 7 (queues, ASIDs) between FEATURES_OK and DRIVER_OK, and may throw to fail the test.
 */
export async function bringUp<T = void>(dev: VdpaDevice, want: bigint, wantBackend: bigint, setup?: (negotiated: bigint) => T | Promise<T>): Promise<BroughtUp<T>> {
  const backend = own(dev, wantBackend);
  let thrown: unknown;
  const started = await startDevice(dev, { wanted: want, timeoutMs: 30_000 }, async (negotiated) => {
    try {
      return E.right((await setup?.(negotiated)) as T);
    } catch (e) {
      thrown = e;
      return E.left({ message: e instanceof Error ? e.message : String(e) });
    }
  });
  if (thrown !== undefined) throw thrown;
  const s = right(started, 'bring-up through machines/device-lifecycle');
  return { features: s.negotiated, backend, setup: s.setup, actor: s.actor };
}
