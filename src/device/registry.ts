/**
 * Device backends behind one registry of spec prefixes. A backend says what its specs look like,
 * validates one without opening anything (the CLI's usage check), and opens it. What a device can do
 * beyond the vhost-vdpa uAPI is a capability — an optional interface the caller asks for by name
 * (`hasCapability(dev, 'faults')`) — never a class check, so a new backend (VDUSE, a vendor's device)
 * plugs in by registering itself and implementing the capabilities it has.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { NetDeviceState } from '../state/net-state.js';
import type { AddressSpace } from '../memory/address-space.js';
import type { FaultPlan } from './sim/faults.js';
import { deviceError, type DeviceError, type VdpaDevice } from './types.js';

/**
 * Backend options given when opening: `faults` for backends with the `faults` capability, and the
 * backend's own (the simulator's profile options); a backend refuses options it has no use for.
 */
export interface OpenOptions {
  readonly faults?: FaultPlan;
  readonly [option: string]: unknown;
}

export interface DeviceBackend {
  /** The spec prefix: `sim` matches `sim` and `sim:…`; `vdpa` matches `vdpa:…`. */
  readonly prefix: string;
  /** The forms of its specs, for messages and --help. */
  readonly forms: readonly string[];
  /** Check a spec without opening anything. */
  validate(spec: string): E.Either<DeviceError, void>;
  open(spec: string, opts: OpenOptions): E.Either<DeviceError, VdpaDevice>;
}

/** Optional capabilities, by name. */
export interface Capabilities {
  /** Inject faults (the simulator's fault plan) and say how often each fired. */
  readonly faults: { setFaults(plan: FaultPlan): void; faultHits(): readonly number[] };
  /** Read its whole virtio-net state (what a kernel device shows only partly, through config space). */
  readonly netState: { netState(): NetDeviceState };
  /** Say whether it is suspended. */
  readonly suspendState: { isSuspended(): boolean };
  /** A virtual clock in µs and CVQ ack counters (a model's time, not the host's). */
  readonly probe: { readonly clock: { readonly now: number }; readonly stats: { readonly acksOk: number; readonly acksErr: number } };
  /**
   * It runs in this process and reads its host memory through this process's buffers: one of ours can
   * be mapped into it as it is. A device says so itself (`sharesProcessMemory`): a kernel device has a
   * host address space too, but the kernel reads only memory mapped for it.
   */
  readonly sharedHostMemory: { readonly host: AddressSpace; readonly sharesProcessMemory: true };
}
export type Capability = keyof Capabilities;

const CHECKS: { readonly [K in Capability]: (d: object) => boolean } = {
  faults: (d) => typeof (d as { setFaults?: unknown }).setFaults === 'function' && typeof (d as { faultHits?: unknown }).faultHits === 'function',
  netState: (d) => typeof (d as { netState?: unknown }).netState === 'function',
  suspendState: (d) => typeof (d as { isSuspended?: unknown }).isSuspended === 'function',
  probe: (d) => typeof (d as { clock?: { now?: unknown } }).clock?.now === 'number' && typeof (d as { stats?: { acksOk?: unknown } }).stats?.acksOk === 'number',
  sharedHostMemory: (d) => (d as { sharesProcessMemory?: unknown }).sharesProcessMemory === true && typeof (d as { host?: { addRegion?: unknown } }).host?.addRegion === 'function',
};

/** Whether `dev` has capability `c` (then typed with it). */
export function hasCapability<C extends Capability>(dev: VdpaDevice, c: C): dev is VdpaDevice & Capabilities[C] {
  return CHECKS[c](dev);
}

const backends: DeviceBackend[] = [];

/** Add a backend (its prefix must be new). */
export function registerBackend(b: DeviceBackend): void {
  if (backends.some((x) => x.prefix === b.prefix)) throw new TypeError(`a device backend with prefix "${b.prefix}" is registered already`);
  backends.push(b);
}

export const deviceBackends = (): readonly DeviceBackend[] => backends;

const backendOf = (spec: string): DeviceBackend | undefined => backends.find((b) => spec === b.prefix || spec.startsWith(`${b.prefix}:`));

const unknownSpec = (spec: string): E.Either<DeviceError, never> =>
  E.left(deviceError('invalid', 'open', `device spec "${spec}": expected ${backends.flatMap((b) => b.forms).join(', ')}`));

/** Check a device spec against the registry, opening nothing. */
export function validateSpec(spec: string): E.Either<DeviceError, void> {
  const s = spec.trim();
  const b = backendOf(s);
  return b === undefined ? unknownSpec(s) : b.validate(s);
}

/** Open a device by spec through its backend. */
export function openDevice(spec: string, opts: OpenOptions = {}): E.Either<DeviceError, VdpaDevice> {
  const s = spec.trim();
  const b = backendOf(s);
  if (b === undefined) return unknownSpec(s);
  const v = b.validate(s);
  return E.isLeft(v) ? v : b.open(s, opts);
}
