/**
 * machines/device-lifecycle's effects on a vhost-vdpa device (the simulator or the kernel's): status
 * and feature ioctls, SUSPEND / RESUME. The driver-side rules (§2.1.1: only a reset clears bits, one
 * init step at a time) are checked with the reducer before the device sees a write.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { VdpaDevice } from '../device/types.js';
import { deviceError } from '../device/types.js';
import { fromHex, toHex, writeStatus } from '../state/lifecycle.js';
import { createActor, waitFor, type Actor, type InspectionEvent } from 'xstate';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import { bind, type EffectsOf } from '../../machines/contract.js';
import { orReject } from './common.js';

/** machines/device-lifecycle's effects (the type is the machine's). */
export type LifecycleEffects = EffectsOf<typeof deviceLifecycleMachine>;

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

/** Why `startDevice` could not bring a device up. */
export interface StartError {
  readonly _tag: 'StartError';
  /** The lifecycle state it stopped in. */
  readonly state: string;
  readonly message: string;
}

export type LifecycleActor = Actor<typeof deviceLifecycleMachine>;
export type LifecycleSnapshot = ReturnType<LifecycleActor['getSnapshot']>;

/** Wait until `reached` holds, or the machine stops short (failed, NEEDS_RESET, back in reset with an error); rejects after `timeoutMs`. */
export const settleLifecycle = (actor: LifecycleActor, reached: (s: LifecycleSnapshot) => boolean, timeoutMs: number): Promise<LifecycleSnapshot> =>
  waitFor(actor, (s) => reached(s) || s.matches('failed') || s.matches('needsReset') || (s.matches('reset') && s.context.error !== null), { timeout: timeoutMs });

/** Why a lifecycle actor settled short of the state wanted: its error, or the state it stopped in. */
export const lifecycleFailure = (s: { value: unknown; context: { error: string | null } }): StartError => ({
  _tag: 'StartError',
  state: JSON.stringify(s.value),
  message: s.context.error ?? `device-lifecycle stopped in ${JSON.stringify(s.value)}`,
});

export interface Started {
  readonly offered: bigint;
  readonly negotiated: bigint;
  /** The lifecycle actor, left running at DRIVER_OK (SUSPEND / RESUME / RESET go to it). */
  readonly actor: LifecycleActor;
}

/**
 * A driver's bring-up of `dev` through machines/device-lifecycle (§3.1.1): START (reset, ACKNOWLEDGE,
 * DRIVER, negotiate `wanted`, FEATURES_OK and its re-read), then `setup(negotiated)` — the driver's
 * step 7: queues, the shadow CVQ, ASIDs — then DRIVER_OK. Every device step is the machine's; this only
 * sends it the driver's events and waits for the states they lead to.
 */
export async function startDevice<T>(
  dev: VdpaDevice,
  o: { readonly wanted: bigint; readonly required?: bigint; readonly timeoutMs?: number; readonly inspect?: (e: InspectionEvent) => void },
  setup: (negotiated: bigint) => E.Either<{ readonly message: string }, T> | Promise<E.Either<{ readonly message: string }, T>>,
): Promise<E.Either<StartError | { readonly message: string }, Started & { readonly setup: T }>> {
  const machine = bind(deviceLifecycleMachine, lifecycleEffects(dev));
  const actor = createActor(machine, {
    input: { wanted: toHex(o.wanted), ...(o.required === undefined ? {} : { required: toHex(o.required) }) },
    ...(o.inspect === undefined ? {} : { inspect: o.inspect }),
  });
  actor.start();
  const timeout = o.timeoutMs ?? 10_000;
  const settle = (ok: (s: LifecycleSnapshot) => boolean) => settleLifecycle(actor, ok, timeout);
  actor.send({ type: 'START' });
  const accepted = await settle((s) => s.matches({ active: { featuresOk: 'accepted' } }));
  if (!accepted.matches({ active: { featuresOk: 'accepted' } })) {
    actor.stop();
    return E.left(lifecycleFailure(accepted));
  }
  const negotiated = BigInt(accepted.context.negotiated);
  const done = await setup(negotiated);
  if (E.isLeft(done)) {
    actor.send({ type: 'FAIL', reason: done.left.message });
    await settle(() => false).catch(() => undefined);
    actor.stop();
    return done;
  }
  actor.send({ type: 'DRIVER_OK' });
  const running = await settle((s) => s.matches({ active: { driverOk: 'running' } }));
  if (!running.matches({ active: { driverOk: 'running' } })) {
    actor.stop();
    return E.left(lifecycleFailure(running));
  }
  return E.right({ offered: BigInt(running.context.offered), negotiated, actor, setup: done.right });
}
