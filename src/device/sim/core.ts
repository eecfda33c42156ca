/**
 * What every room of the simulated device shares: its identity and profile, the status and the
 * features the driver wrote, the IOTLBs and group → ASID bindings, the fault plan, the clock, the
 * statistics and records, and the device-error path (§2.1.2 DEVICE_NEEDS_RESET). The rooms:
 * device.ts (the vhost-vdpa uAPI), queues.ts (rings, kicks and calls), cvq.ts (the control queue),
 * loopback.ts (TX → RX).
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, type Region } from '../../memory/address-space.js';
import type { RingError, RingLayout } from '../../ring/types.js';
import { hasFeature } from '../../virtio/features.js';
import { QEMU_MAC_TABLE_ENTRIES, normaliseMac, type MacString } from '../../virtio/net.js';
import { VIRTIO_CONFIG_S } from '../../virtio/status.js';
import { deviceError, type DeviceError, type DeviceErrorKind } from '../types.js';
import { VirtualClock } from './clock.js';
import { ERRNO, type ErrnoName } from './errno.js';
import { FaultState } from './faults.js';
import { Iotlb } from './iotlb.js';
import { ModelCvq, VdpaSimNetCvq, type CvqModel } from './net-model.js';
import { newStats, profileOf, type CvqLogEntry, type SimDeviceFault, type SimDeviceOptions, type SimStats } from './options.js';
import type { SimProfile } from './profiles.js';
import { hdrLenOf } from './rx-filter.js';

export const errnoNameOf = (errno: number): string | undefined => Object.entries(ERRNO).find(([, v]) => v === errno)?.[0];

export const errnoErr = (kind: DeviceErrorKind, op: string, name: ErrnoName, message: string): E.Either<DeviceError, never> =>
  E.left(deviceError(kind, op, message, ERRNO[name], name));

export const ok = E.right(undefined) as E.Either<DeviceError, void>;

export class SimCore {
  readonly profile: SimProfile;
  readonly name: string;
  readonly host: AddressSpace;
  readonly clock = new VirtualClock();
  readonly stats: SimStats = newStats();
  readonly cvqLog: CvqLogEntry[] = [];
  readonly errors: SimDeviceFault[] = [];
  readonly maxQueuePairs: number;
  readonly provisionedMac: MacString;
  readonly kickToCallUs: number;
  readonly perChainUs: number;
  readonly iotlbs: Iotlb[];
  readonly groupAsid: number[];
  /** Permission of every IOVA region of every ASID (shared with the IOTLBs). */
  readonly regionPerms = new Map<Region, number>();
  /** The CVQ semantics of the profile (with the class modules' rules). */
  readonly model: CvqModel;
  faults: FaultState;

  owned = false;
  closed = false;
  status = 0;
  /** Features the driver wrote (SET_FEATURES), as the device keeps them. */
  driverFeatures = 0n;
  /** The bits the hot paths test, taken out of `driverFeatures` once (no BigInt per packet). */
  fCtrlVq = false;
  fMq = false;
  fMrgRxbuf = false;
  fCtrlVlan = false;
  hdrLen = 10;
  backendAcked = 0n;
  suspended = false;
  /** A kick arrived while suspended: replayed at resume. */
  pendingKick = false;
  /** Work deferred to resume (a delayed ack that fell due while suspended). */
  readonly afterResume: (() => void)[] = [];

  /** Options are checked by the caller (`checkSimOptions`). */
  constructor(opts: SimDeviceOptions) {
    const p = profileOf(opts)!;
    this.profile = p;
    this.name = opts.name ?? `sim-${p.name}`;
    this.host = new AddressSpace(`hva:${this.name}`);
    this.maxQueuePairs = opts.maxQueuePairs ?? p.maxQueuePairs;
    this.provisionedMac = normaliseMac(opts.mac ?? '52:54:00:12:34:56');
    this.kickToCallUs = opts.latency?.kickToCallUs ?? 50;
    this.perChainUs = opts.latency?.perChainUs ?? 0.5;
    this.iotlbs = Array.from({ length: p.asNum }, (_, i) => new Iotlb(i, this.name, this.regionPerms));
    this.groupAsid = new Array<number>(p.groupNum).fill(0);
    this.model =
      p.cvq === 'vdpa_sim_net'
        ? new VdpaSimNetCvq(this.provisionedMac, opts.staleAck ?? false)
        : new ModelCvq(this.provisionedMac, {
            maxQueuePairs: this.maxQueuePairs,
            rssMaxIndirectionTableLength: p.rssMaxIndirectionTableLength,
            rssMaxKeySize: p.rssMaxKeySize,
            supportedHashTypes: p.supportedHashTypes,
            macTableEntries: QEMU_MAC_TABLE_ENTRIES,
          });
    this.faults = new FaultState(opts.faults ?? []);
  }

  setDriverFeatures(f: bigint): void {
    this.driverFeatures = f;
    this.fCtrlVq = hasFeature(f, 'CTRL_VQ');
    this.fMq = hasFeature(f, 'MQ');
    this.fMrgRxbuf = hasFeature(f, 'MRG_RXBUF');
    this.fCtrlVlan = hasFeature(f, 'CTRL_VLAN');
    this.hdrLen = hdrLenOf(f);
  }

  /** Index of the control virtqueue for the features written so far (2 × max pairs with MQ, else 2). */
  cvqIndex(): number {
    return this.fMq ? 2 * this.maxQueuePairs : 2;
  }

  /** Virtqueue groups as vdpa_sim: the CVQ alone in group 1. */
  groupOf(qi: number): number {
    return this.fCtrlVq || this.profile.name === 'vdpa_sim_net' ? (qi === this.cvqIndex() ? 1 : 0) : 0;
  }

  /** The ASID whose IOVA space queue `qi`'s group uses. */
  queueAsid(qi: number): number {
    return this.groupAsid[this.groupOf(qi)]!;
  }

  /** The IOVA space queue `qi` reads and writes through. */
  spaceOf(qi: number): AddressSpace {
    return this.iotlbs[this.queueAsid(qi)]!.space;
  }

  layoutNegotiated(): RingLayout {
    return hasFeature(this.driverFeatures, 'RING_PACKED') ? 'packed' : 'split';
  }

  /** Queue pairs the loopback serves: the CVQ state's with MQ, else one. */
  activePairs(): number {
    return this.fMq ? this.model.state().queuePairs : 1;
  }

  backendHas(bit: number): boolean {
    return (this.backendAcked & (1n << BigInt(bit))) !== 0n;
  }

  driverOk(): boolean {
    return (this.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0;
  }

  runningUnsuspended(): boolean {
    return this.driverOk() && !this.suspended;
  }

  /** Processing allowed: DRIVER_OK, not NEEDS_RESET, not suspended, not closed. */
  running(): boolean {
    return this.driverOk() && (this.status & VIRTIO_CONFIG_S.NEEDS_RESET) === 0 && !this.suspended && !this.closed;
  }

  closedErr(op: string): E.Either<DeviceError, never> {
    return E.left(deviceError('closed', op, `${this.name} is closed`));
  }

  faultErr(op: string, errno: number, message: string): E.Either<DeviceError, never> {
    return E.left(deviceError('fault', op, message, errno, errnoNameOf(errno)));
  }

  /** A device error: recorded, and NEEDS_RESET where the profile says so. */
  deviceFault(queue: number, message: string, ring?: RingError): void {
    this.stats.deviceErrors++;
    this.errors.push(ring === undefined ? { queue, message } : { queue, message, ring });
    if (this.profile.needsResetOnError) this.needsReset(queue, message);
  }

  /** §2.1.2: DEVICE_NEEDS_RESET; the device stops using every queue until the driver resets it. */
  needsReset(queue: number, reason: string): void {
    if ((this.status & VIRTIO_CONFIG_S.NEEDS_RESET) !== 0) return;
    this.status |= VIRTIO_CONFIG_S.NEEDS_RESET;
    if (queue < 0) this.errors.push({ queue, message: `NEEDS_RESET: ${reason}` });
    this.clock.cancelAll();
  }
}
