/**
 * machines/device-lifecycle's effects on a vhost-vdpa device (the simulator or the kernel's): status
 * and feature ioctls, SUSPEND / RESUME. The driver-side rules (§2.1.1: only a reset clears bits, one
 * init step at a time) are checked with the reducer before the device sees a write.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { VdpaDevice } from '../device/types.js';
import { deviceError } from '../device/types.js';
import { fromHex, toHex, writeStatus } from '../state/lifecycle.js';
import type { FeaturesOutput, StatusOutput } from '../../machines/device-lifecycle.js';
import { orReject, type Effect } from './common.js';

export interface LifecycleEffects {
  readonly [name: string]: Effect<never, unknown>;
  resetDevice: Effect<{ timeoutMs: number }, StatusOutput>;
  writeStatus: Effect<{ status: number }, StatusOutput>;
  readStatus: Effect<void, StatusOutput>;
  readFeatures: Effect<void, FeaturesOutput>;
  writeFeatures: Effect<{ features: string }, FeaturesOutput>;
  suspendDevice: Effect<void, void>;
  resumeDevice: Effect<void, void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function lifecycleEffects(dev: VdpaDevice): LifecycleEffects {
  return {
    // §2.4.2: write 0, then wait until the device reads back 0
    async resetDevice({ timeoutMs }, signal) {
      await orReject(dev.setStatus(0));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await orReject(dev.getStatus());
        if (s === 0) return { status: 0 };
        if (signal.aborted || Date.now() >= deadline) {
          throw deviceError('timeout', 'VHOST_VDPA_SET_STATUS', `status still 0x${s.toString(16)} ${timeoutMs} ms after reset`);
        }
        await sleep(1);
      }
    },
    async writeStatus({ status }) {
      const current = await orReject(dev.getStatus());
      const ok = writeStatus(current, status);
      if (E.isLeft(ok)) throw deviceError('invalid', 'VHOST_VDPA_SET_STATUS', ok.left.message);
      await orReject(dev.setStatus(status));
      return { status };
    },
    async readStatus() {
      return { status: await orReject(dev.getStatus()) };
    },
    async readFeatures() {
      return { features: toHex(await orReject(dev.getFeatures())) };
    },
    async writeFeatures({ features }) {
      const f = fromHex(features);
      if (E.isLeft(f)) throw deviceError('invalid', 'VHOST_SET_FEATURES', f.left);
      await orReject(dev.setFeatures(f.right));
      return { features };
    },
    suspendDevice: async () => orReject(dev.suspend()),
    resumeDevice: async () => orReject(dev.resume()),
  };
}
