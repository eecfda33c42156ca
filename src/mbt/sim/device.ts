/**
 * The simulated device a harness runs on, a one-shot failing wrapper of any device (`FaultyDevice`), and what lifecycle faults make fail.
 * (Part of the simulated-device harnesses: see ../sim.ts.)
 */
import * as E from 'fp-ts/lib/Either.js';
import { type SnapshotFrom } from 'xstate';
import { cvqCommandMachine } from '../../../machines/cvq-command.js';
import { deviceLifecycleMachine } from '../../../machines/device-lifecycle.js';
import { migrationMachine } from '../../../machines/migration.js';
import { svqSwitchMachine } from '../../../machines/svq-switch.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../../device/sim/device.js';
import { deviceError, type DeviceError, type VdpaDevice } from '../../device/types.js';
import { STATUS, negotiate } from '../../state/lifecycle.js';
import { RUNNING_STATUS } from '../scripts.js';

export type LifecycleSnap = SnapshotFrom<typeof deviceLifecycleMachine>;
export type SvqSnap = SnapshotFrom<typeof svqSwitchMachine>;
export type CvqSnap = SnapshotFrom<typeof cvqCommandMachine>;
export type MigrationSnap = SnapshotFrom<typeof migrationMachine>;

// ---------------------------------------------------------------------------------------------------
// A device wrapper for faults the simulator has no rule for.

export type DeviceOp = { [K in keyof VdpaDevice]-?: VdpaDevice[K] extends (...a: never[]) => unknown ? K : never }[keyof VdpaDevice] & string;

export interface FaultyDevice {
  readonly device: VdpaDevice;
  /** The next call of `op` fails with a DeviceError of kind "fault" (and does nothing). */
  failNext(op: DeviceOp): void;
  /** The next GET_FEATURES hides `mask`. */
  hideFeaturesOnce(mask: bigint): void;
  /** The next SET_STATUS that sets FEATURES_OK has it cleared, as a device refusing the features. */
  refuseFeaturesOkOnce(): void;
  /** The next GET_CONFIG reads back with its first byte flipped (config space that does not show what was acked). */
  corruptConfigOnce(): void;
  /** Ops armed and not yet hit. */
  armed(): string[];
}

export function faultyDevice(inner: VdpaDevice): FaultyDevice {
  const failing = new Set<string>();
  let hide = 0n;
  let refuse = false;
  let corrupt = false;
  const device = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      const name = String(prop);
      if (failing.has(name)) {
        return (...args: unknown[]) => {
          failing.delete(name);
          const err: DeviceError = deviceError('fault', name, `${name} failed (injected by the model-based test)`);
          return name === 'waitCall' ? Promise.resolve(E.left(err)) : (void args, E.left(err));
        };
      }
      if (name === 'getFeatures' && hide !== 0n) {
        return () => {
          const m = hide;
          hide = 0n;
          return E.map((f: bigint) => f & ~m)(fn() as E.Either<DeviceError, bigint>);
        };
      }
      if (name === 'getConfig' && corrupt) {
        return (offset: number, len: number) => {
          corrupt = false;
          return E.map((b: Uint8Array) => {
            const c = b.slice();
            c[0] = c[0]! ^ 0xff;
            return c;
          })(fn(offset, len) as E.Either<DeviceError, Uint8Array>);
        };
      }
      if (name === 'setStatus' && refuse) {
        return (status: number) => {
          if ((status & STATUS.FEATURES_OK) === 0) return fn(status);
          refuse = false;
          return fn(status & ~STATUS.FEATURES_OK);
        };
      }
      return fn;
    },
  });
  return {
    device,
    failNext: (op) => void failing.add(op),
    hideFeaturesOnce: (mask) => void (hide = mask),
    refuseFeaturesOkOnce: () => void (refuse = true),
    corruptConfigOnce: () => void (corrupt = true),
    armed: () => [...failing, ...(hide ? ['getFeatures(hide)'] : []), ...(refuse ? ['setStatus(refuse FEATURES_OK)'] : []), ...(corrupt ? ['getConfig(corrupt)'] : [])],
  };
}

// ---------------------------------------------------------------------------------------------------
// Simulated devices

export interface SimEnv {
  readonly sim: SimVdpaDevice;
  readonly faulty: FaultyDevice;
}

// ---------------------------------------------------------------------------------------------------
// what each lifecycle effect makes fail, and bringing a device up as another driver would

/** The uAPI call each lifecycle effect makes that its error edge makes fail (any VdpaDevice). */
export const LIFECYCLE_OPS: Readonly<Record<string, DeviceOp>> = {
  resetDevice: 'setStatus',
  writeStatus: 'setStatus',
  readStatus: 'getStatus',
  readFeatures: 'getFeatures',
  writeFeatures: 'setFeatures',
  suspendDevice: 'suspend',
  resumeDevice: 'resume',
};

export const simDevice = (opts: SimDeviceOptions = {}): SimEnv => {
  const sim = new SimVdpaDevice({ profile: 'full', ...opts });
  const own = sim.setOwner();
  if (E.isLeft(own)) throw new Error(own.left.message);
  return { sim, faulty: faultyDevice(sim) };
};

export function right<T>(e: E.Either<{ message: string }, T>): T {
  if (E.isLeft(e)) throw new Error(e.left.message);
  return e.right;
}

/** What a driver negotiated with `dev` wanting `wanted` (what an ATTACH takes over). */
export const negotiatedWith = (dev: VdpaDevice, wanted: bigint): bigint => right(negotiate(right(dev.getFeatures()), wanted));

/** Another driver instance brings `dev` up to DRIVER_OK with `negotiated` (what ATTACH then finds). */
export function bringUpByHand(dev: VdpaDevice, negotiated: bigint): void {
  if ((right(dev.getStatus()) & STATUS.DRIVER_OK) !== 0) return;
  right(dev.setStatus(0));
  right(dev.setStatus(STATUS.ACKNOWLEDGE));
  right(dev.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER));
  right(dev.setFeatures(negotiated));
  right(dev.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK));
  right(dev.setStatus(RUNNING_STATUS));
}

