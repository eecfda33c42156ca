/**
 * The device interface: the vhost-vdpa uAPI (linux/vhost.h, linux/vhost_types.h) as a TypeScript
 * contract. Both the embedded simulated device (`src/device/sim`) and the real kernel device behind
 * `/dev/vhost-vdpa-N` (`src/device/vhost-vdpa`) implement it, so the SVQ engine, the CVQ engine, the
 * machines, the CLI and the model-based tests run unchanged on either.
 *
 * Memory model (as QEMU's): buffers the device may touch live in the host address space `host`
 * (on the real device: MAP_SHARED mmap'ed pages, region base = the user virtual address); they reach
 * the device through IOTLB updates (IOVA → host address) per address space id (ASID). Ring addresses
 * given to `setVringAddr` are IOVAs.
 */
import type * as E from 'fp-ts/lib/Either.js';
import type { AddressSpace, Region } from '../memory/address-space.js';
import type { RingAddrs } from '../ring/types.js';

export type DeviceErrorKind =
  | 'ioctl' // an ioctl / uAPI call failed (errno set)
  | 'timeout' // the device did not answer in time
  | 'unsupported' // the device lacks the feature / backend feature
  | 'invalid' // arguments out of range (queue index, size, ASID …)
  | 'iotlb' // IOTLB update / invalidate failed
  | 'state' // call not valid in the device's current state (e.g. suspend before DRIVER_OK)
  | 'fault' // a fault injected on purpose (simulated device)
  | 'closed';

export interface DeviceError {
  readonly _tag: 'DeviceError';
  readonly kind: DeviceErrorKind;
  /** The uAPI operation, e.g. "VHOST_VDPA_SUSPEND". */
  readonly op: string;
  readonly errno?: number;
  /** errno's symbolic name, e.g. "EOPNOTSUPP". */
  readonly errnoName?: string;
  readonly message: string;
}

export const deviceError = (kind: DeviceErrorKind, op: string, message: string, errno?: number, errnoName?: string): DeviceError => ({
  _tag: 'DeviceError',
  kind,
  op,
  ...(errno === undefined ? {} : { errno }),
  ...(errnoName === undefined ? {} : { errnoName }),
  message,
});

/** VHOST_BACKEND_F_* (linux/vhost_types.h). */
export const VHOST_BACKEND_F = {
  IOTLB_MSG_V2: 1,
  IOTLB_BATCH: 2,
  IOTLB_ASID: 3,
  SUSPEND: 4,
  RESUME: 5,
  ENABLE_AFTER_DRIVER_OK: 6,
  DESC_ASID: 7,
  IOTLB_PERSIST: 8,
} as const;

/** The VHOST_BACKEND_F_* bits of `names` as a mask (as `maskOf` does for feature names). */
export const backendMask = (names: readonly (keyof typeof VHOST_BACKEND_F)[]): bigint =>
  names.reduce((m, n) => m | (1n << BigInt(VHOST_BACKEND_F[n])), 0n);

/** IOTLB permissions (VHOST_ACCESS_*). */
export const VHOST_ACCESS_RO = 1;
export const VHOST_ACCESS_WO = 2;
export const VHOST_ACCESS_RW = 3;

export interface IovaRange {
  /** First and last usable IOVA, inclusive (VHOST_VDPA_GET_IOVA_RANGE). */
  readonly first: number;
  readonly last: number;
}

export interface VdpaDevice {
  readonly name: string;
  readonly kind: 'sim' | 'vhost-vdpa';
  /** Host memory the device can be given through the IOTLB. */
  readonly host: AddressSpace;
  /** Allocate page-aligned, zeroed host memory (real device: mmap MAP_SHARED|MAP_ANONYMOUS). */
  allocHost(size: number, name?: string): E.Either<DeviceError, Region>;
  freeHost(region: Region): E.Either<DeviceError, void>;

  setOwner(): E.Either<DeviceError, void>;
  getDeviceId(): E.Either<DeviceError, number>;
  getFeatures(): E.Either<DeviceError, bigint>;
  setFeatures(features: bigint): E.Either<DeviceError, void>;
  getBackendFeatures(): E.Either<DeviceError, bigint>;
  setBackendFeatures(features: bigint): E.Either<DeviceError, void>;
  getStatus(): E.Either<DeviceError, number>;
  setStatus(status: number): E.Either<DeviceError, void>;
  /** Bytes of the device config space (struct virtio_net_config), VHOST_VDPA_GET_CONFIG. */
  getConfig(offset: number, len: number): E.Either<DeviceError, Uint8Array>;
  getConfigSize(): E.Either<DeviceError, number>;
  /** Maximum queue size (VHOST_VDPA_GET_VRING_NUM). */
  getVringNum(): E.Either<DeviceError, number>;
  getVqsCount(): E.Either<DeviceError, number>;
  getGroupNum(): E.Either<DeviceError, number>;
  getAsNum(): E.Either<DeviceError, number>;
  getVringGroup(qi: number): E.Either<DeviceError, number>;
  setGroupAsid(group: number, asid: number): E.Either<DeviceError, void>;
  getIovaRange(): E.Either<DeviceError, IovaRange>;

  setVringNum(qi: number, num: number): E.Either<DeviceError, void>;
  /** Ring addresses as IOVAs (packed: desc ring, driver area, device area). */
  setVringAddr(qi: number, addrs: RingAddrs): E.Either<DeviceError, void>;
  /** vhost's vring base (packed: idx | wrap << 15 | used idx << 16 | used wrap << 31). */
  setVringBase(qi: number, base: number): E.Either<DeviceError, void>;
  getVringBase(qi: number): E.Either<DeviceError, number>;
  setVringEnable(qi: number, enable: boolean): E.Either<DeviceError, void>;
  suspend(): E.Either<DeviceError, void>;
  resume(): E.Either<DeviceError, void>;

  iotlbBatchBegin(asid: number): E.Either<DeviceError, void>;
  iotlbBatchEnd(asid: number): E.Either<DeviceError, void>;
  /** Map [iova, iova+size) to host [hva, hva+size) for address space `asid`. */
  iotlbUpdate(asid: number, iova: number, size: number, hva: number, perm: number): E.Either<DeviceError, void>;
  iotlbInvalidate(asid: number, iova: number, size: number): E.Either<DeviceError, void>;

  /** Notify queue `qi` (write its kick eventfd). */
  kick(qi: number): E.Either<DeviceError, void>;
  /**
   * Wait until the device signals queue `qi` (its call eventfd), at most `timeoutMs`.
   * Resolves right(true) on a call, right(false) on timeout; never blocks the event loop for long.
   */
  waitCall(qi: number, timeoutMs: number): Promise<E.Either<DeviceError, boolean>>;
  /**
   * Optional, event-driven calls (a device whose calls are eventfds: vhost-vdpa): `onCall(qi)` runs each
   * time one of `qis` is signalled, until `stop()`; the wait blocks no event loop. A watched queue's calls
   * are consumed by the watch (no `waitCall` on it meanwhile). Devices without it are waited on with `waitCall`.
   */
  watchCalls?(qis: readonly number[], onCall: (qi: number) => void, onError?: (e: DeviceError) => void, busyPoll?: BusyPoll): E.Either<DeviceError, CallWatchHandle>;
  close(): void;
}

/**
 * Busy-polling a device while a burst is known to be in flight (vhost-net's busy-poll, NAPI): after
 * `poke()` the watch calls `poll()` once per event-loop turn — it reaps what the device used with the
 * device's calls off, no syscall — until `busy()` is false and a pass found nothing, or `idleMs` pass
 * without progress; then `end()`
 * turns calls back on (with the re-check) and the watch sleeps on the call eventfds again.
 */
export interface BusyPoll {
  /** Reap what the device used, calls left off; the number of chains it handled. */
  poll(): number;
  /** Whether a burst is still in flight (worth polling for). */
  busy(): boolean;
  /** Polling is over: device calls back on, with the re-check. */
  end(): void;
  /** Longest a poll goes on without progress (ms). */
  readonly idleMs: number;
}

/** A running call watch: `stop()` ends it; `poke()` starts busy-polling (a burst was just kicked). */
export interface CallWatchHandle {
  stop(): void;
  poke?(): void;
}
