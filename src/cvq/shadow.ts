/**
 * The shadow control virtqueue's memory, as QEMU's net/vhost-vdpa.c sets it up for the CVQ state load:
 * one page-aligned host allocation holding the ring, an indirect-table area (INDIRECT_DESC), a
 * page-rounded out buffer (commands, written back to back) and a page-rounded in buffer (ack bytes),
 * each mapped into the device's IOTLB at IOVA = base + its offset with the permission the device needs:
 * driver-written areas read-only, the device area and the in buffer read-write (QEMU
 * `vhost_vdpa_cvq_map_buf`, SVQ `vhost_svq_map_ring`). The ring driver works on an IOVA view that
 * aliases the same bytes, so every address it writes into a descriptor is an IOVA.
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../memory/address-space.js';
import { encodeBase, placeRing, ringFactory } from '../ring/index.js';
import { isRingError, type RingAddrs, type RingDriver, type RingLayout } from '../ring/types.js';
import { VHOST_ACCESS_RO, VHOST_ACCESS_RW, type DeviceError, type VdpaDevice } from '../device/types.js';
import { hasFeature } from '../virtio/features.js';
import { NET_CONFIG } from '../virtio/net.js';
import type { InspectionEvent } from 'xstate';
import { startDevice, type Started } from '../effects/lifecycle.js';

const pageUp = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/** Descriptors per command: the out buffer (header + payload) and the ack byte. */
export const CVQ_CHAIN_DESCS = 2;
const DESC_SIZE = 16;

export interface ShadowCvqOptions {
  /** The CVQ's queue index (2 × max pairs; 2 on a single-pair device). */
  readonly qi: number;
  /** Negotiated features: RING_PACKED picks the layout, EVENT_IDX and INDIRECT_DESC pass to the ring. */
  readonly negotiated: bigint;
  /** Ring size; default min(256, VHOST_VDPA_GET_VRING_NUM). */
  readonly size?: number;
  /** Address space the CVQ's group is bound to (QEMU puts the CVQ alone in its own ASID). Default 0. */
  readonly asid?: number;
  /** First IOVA to use; default the first page at or above the device's IOVA range start (never 0). */
  readonly iova?: number;
  /** Out buffer bytes (page-rounded); default one page, and at least `minCommandBytes`. */
  readonly outBytes?: number;
  /** The largest command that will be sent (header + payload); the out buffer holds at least one. */
  readonly minCommandBytes?: number;
}

export interface ShadowCvq {
  readonly qi: number;
  readonly asid: number;
  readonly layout: RingLayout;
  readonly size: number;
  /** INDIRECT_DESC negotiated and an indirect area is mapped. */
  readonly indirect: boolean;
  readonly driver: RingDriver;
  /** Ring areas as IOVAs (what VHOST_SET_VRING_ADDR gets). */
  readonly addrs: RingAddrs;
  /** Out buffer: bytes (host view) and IOVA. */
  readonly out: Uint8Array;
  readonly outIova: number;
  /** In buffer: one ack byte per in-flight command. */
  readonly in: Uint8Array;
  readonly inIova: number;
  /** The host allocation and its IOVA base. */
  readonly region: Region;
  readonly iova: number;
}

export interface ShadowCvqSetupError {
  readonly _tag: 'ShadowCvqSetupError';
  readonly message: string;
  readonly cause?: DeviceError;
}

const setupError = (message: string, cause?: DeviceError): ShadowCvqSetupError => ({ _tag: 'ShadowCvqSetupError', message, ...(cause === undefined ? {} : { cause }) });
const dev = <A>(what: string, r: E.Either<DeviceError, A>): E.Either<ShadowCvqSetupError, A> => E.mapLeft((e: DeviceError) => setupError(`${what}: ${e.message}`, e))(r);
/** A uAPI failure as a set-up error naming the ioctl. */
const uapi = <A>(r: E.Either<DeviceError, A>): E.Either<ShadowCvqSetupError, A> => E.mapLeft((e: DeviceError) => setupError(`${e.op}: ${e.message}`, e))(r);

/**
 * Allocate, map and build the driver side of a shadow CVQ. Does not touch the vring registers:
 * `programShadowCvq` does (at the point of the device lifecycle the caller chooses). (Long: the layout
 * of one IOVA region — ring, indirect tables, out and in buffers — computed, checked and mapped in order.)
 */
export function createShadowCvq(device: VdpaDevice, opts: ShadowCvqOptions): E.Either<ShadowCvqSetupError, ShadowCvq> {
  const layout: RingLayout = hasFeature(opts.negotiated, 'RING_PACKED') ? 'packed' : 'split';
  const maxNum = dev('VHOST_VDPA_GET_VRING_NUM', device.getVringNum());
  if (E.isLeft(maxNum)) return maxNum;
  const size = opts.size ?? Math.min(256, maxNum.right);
  if (size > maxNum.right) return E.left(setupError(`ring size ${size} exceeds the device's ${maxNum.right}`));
  const range = dev('VHOST_VDPA_GET_IOVA_RANGE', device.getIovaRange());
  if (E.isLeft(range)) return range;
  const indirect = hasFeature(opts.negotiated, 'INDIRECT_DESC');

  // Layout (offsets from the allocation's start, every section page-aligned):
  // [desc + driver area | device area] [indirect tables] [out buffer] [in buffer]
  const ring = placeRing(layout, size, 0, { deviceAlign: PAGE_SIZE });
  const ringEnd = pageUp(ring.end);
  const indOff = ringEnd;
  const indBytes = indirect ? pageUp(size * CVQ_CHAIN_DESCS * DESC_SIZE) : 0;
  const outOff = indOff + indBytes;
  const outBytes = pageUp(Math.max(opts.outBytes ?? PAGE_SIZE, opts.minCommandBytes ?? 0, 1));
  const inOff = outOff + outBytes;
  const inBytes = pageUp(size);
  const total = inOff + inBytes;

  const iova = opts.iova ?? Math.max(PAGE_SIZE, pageUp(range.right.first));
  if (iova % PAGE_SIZE !== 0) return E.left(setupError(`IOVA 0x${iova.toString(16)} is not page-aligned`));
  if (iova < range.right.first || iova + total - 1 > range.right.last) {
    return E.left(setupError(`IOVA [0x${iova.toString(16)}, +${total}) is outside the device's range [0x${range.right.first.toString(16)}, 0x${range.right.last.toString(16)}]`));
  }
  const region = dev('mmap', device.allocHost(total, `shadow-cvq${opts.qi}`));
  if (E.isLeft(region)) return region;
  const r = region.right;
  const asid = opts.asid ?? 0;

  const maps: Array<[off: number, len: number, perm: number]> = [
    // split: descriptors + avail ring are only read by the device; the used ring is written.
    // packed: the device writes used descriptors back into the descriptor ring (§2.8.6): all RW.
    ...(layout === 'split'
      ? [[0, ring.addrs.device, VHOST_ACCESS_RO] as [number, number, number], [ring.addrs.device, ringEnd - ring.addrs.device, VHOST_ACCESS_RW] as [number, number, number]]
      : [[0, ringEnd, VHOST_ACCESS_RW] as [number, number, number]]),
    ...(indirect ? [[indOff, indBytes, VHOST_ACCESS_RO] as [number, number, number]] : []),
    [outOff, outBytes, VHOST_ACCESS_RO],
    [inOff, inBytes, VHOST_ACCESS_RW],
  ];
  for (const [off, len, perm] of maps) {
    const u = dev('VHOST_IOTLB_UPDATE', device.iotlbUpdate(asid, iova + off, len, r.base + off, perm));
    if (E.isLeft(u)) {
      device.iotlbInvalidate(asid, iova, off);
      device.freeHost(r);
      return u;
    }
  }

  const space = new AddressSpace(`iova:cvq${opts.qi}`);
  const alias = space.addRegion(iova, r.buffer, { offset: r.offset, size: total, name: `shadow-cvq${opts.qi}` });
  if (E.isLeft(alias)) return E.left(setupError(alias.left.message));
  const addrs: RingAddrs = { desc: iova + ring.addrs.desc, driver: iova + ring.addrs.driver, device: iova + ring.addrs.device };
  const driver = ringFactory(layout).driver(
    space,
    { layout, size, addrs, eventIdx: hasFeature(opts.negotiated, 'EVENT_IDX'), indirect },
    indirect ? { indirectArea: { addr: iova + indOff, size: indBytes } } : undefined,
  );
  if (isRingError(driver)) return E.left(setupError(`shadow CVQ ring: ${driver.message}`));
  return E.right({
    qi: opts.qi,
    asid,
    layout,
    size,
    indirect,
    driver,
    addrs,
    out: r.bytes.subarray(outOff, outOff + outBytes),
    outIova: iova + outOff,
    in: r.bytes.subarray(inOff, inOff + inBytes),
    inIova: iova + inOff,
    region: r,
    iova,
  });
}

/**
 * Give the device the shadow ring (VHOST_SET_VRING_NUM / _ADDR / _BASE) and enable it
 * (VHOST_VDPA_SET_VRING_ENABLE), as QEMU does for the CVQ before loading state.
 */
export function programShadowCvq(device: VdpaDevice, cvq: ShadowCvq): E.Either<DeviceError, void> {
  const steps: Array<() => E.Either<DeviceError, void>> = [
    () => device.setVringNum(cvq.qi, cvq.size),
    () => device.setVringAddr(cvq.qi, cvq.addrs),
    () => device.setVringBase(cvq.qi, encodeBase(cvq.layout, cvq.driver.base())),
    () => device.setVringEnable(cvq.qi, true),
  ];
  for (const s of steps) {
    const r = s();
    if (E.isLeft(r)) return r;
  }
  return E.right(undefined);
}

/** Unmap and free the shadow CVQ's memory (after the device stopped using it). */
export function destroyShadowCvq(device: VdpaDevice, cvq: ShadowCvq): E.Either<DeviceError, void> {
  const inv = device.iotlbInvalidate(cvq.asid, cvq.iova, cvq.region.size);
  const free = device.freeHost(cvq.region);
  return E.isLeft(inv) ? inv : E.isLeft(free) ? free : E.right(undefined);
}

/** The control virtqueue's index (virtio 1.2 §5.1.2): 2 × max_virtqueue_pairs with MQ, else 2. */
export function cvqIndexOf(device: VdpaDevice, negotiated: bigint): E.Either<DeviceError, number> {
  if (!hasFeature(negotiated, 'MQ')) return E.right(2);
  return E.map((c: Uint8Array) => 2 * (c[0]! | (c[1]! << 8)))(device.getConfig(NET_CONFIG.maxVirtqueuePairs, 2));
}

/** Where the CVQ's group goes: the ASID given, or — by default — ASID 1 when the device can isolate it. */
function cvqAsid(device: VdpaDevice, group: number, asid: number | undefined): E.Either<ShadowCvqSetupError, number> {
  if (asid !== undefined) return E.right(asid);
  // QEMU vhost_vdpa_net_cvq_start: isolate the CVQ only when the device has a second address space and
  // the CVQ's group is its own (group 0 holds the data queues)
  const as = uapi(device.getAsNum());
  if (E.isLeft(as)) return as;
  const groups = uapi(device.getGroupNum());
  if (E.isLeft(groups)) return groups;
  return E.right(as.right >= 2 && groups.right >= 2 && group !== 0 ? 1 : 0);
}

/**
 * The shadow CVQ part of the driver's §3.1.1 step 7 (QEMU `vhost_vdpa_net_cvq_start`), after
 * FEATURES_OK and before DRIVER_OK: the CVQ's group in its own ASID (`opts.asid`, default ASID 1 when
 * the device can isolate it), the shadow CVQ created there and programmed. Status and features are
 * machines/device-lifecycle's: run this as `startDevice`'s setup (src/effects/lifecycle.ts), or use
 * `startShadowCvq`, which does.
 */
export function setUpShadowCvq(device: VdpaDevice, negotiated: bigint, opts: Omit<ShadowCvqOptions, 'negotiated' | 'qi'> = {}): E.Either<ShadowCvqSetupError, ShadowCvq> {
  return pipe(
    uapi(cvqIndexOf(device, negotiated)),
    E.chain((qi) =>
      pipe(
        uapi(device.getVringGroup(qi)),
        E.chain((group) =>
          pipe(
            cvqAsid(device, group, opts.asid),
            E.chainFirst((asid) => (asid === 0 ? E.right(undefined) : uapi(device.setGroupAsid(group, asid)))),
          ),
        ),
        E.chain((asid) => createShadowCvq(device, { ...opts, qi, negotiated, asid })),
      ),
    ),
    E.chainFirst((cvq) => uapi(programShadowCvq(device, cvq))),
  );
}

export interface ShadowCvqStarted extends Started {
  readonly cvq: ShadowCvq;
}

/**
 * Bring an owned device up for a CVQ-only state load, in QEMU's order (vhost_vdpa_net_cvq_start,
 * vhost_dev_start): ack the offered backend features, then machines/device-lifecycle (`startDevice`:
 * reset, ACKNOWLEDGE | DRIVER, negotiate `wanted`, FEATURES_OK) with the shadow CVQ set up
 * (`setUpShadowCvq`) as its step 7, then DRIVER_OK. The lifecycle actor is left running at DRIVER_OK.
 */
export async function startShadowCvq(
  device: VdpaDevice,
  wanted: bigint,
  opts: Omit<ShadowCvqOptions, 'negotiated' | 'qi'> & { readonly inspect?: (e: InspectionEvent) => void } = {},
): Promise<E.Either<ShadowCvqSetupError, ShadowCvqStarted>> {
  const backend = pipe(
    uapi(device.getBackendFeatures()),
    E.chain((b) => uapi(device.setBackendFeatures(b))),
  );
  if (E.isLeft(backend)) return backend;
  const { inspect, ...shadow } = opts;
  const started = await startDevice(device, { wanted, ...(inspect === undefined ? {} : { inspect }) }, (negotiated) => setUpShadowCvq(device, negotiated, shadow));
  if (E.isLeft(started)) return E.left(setupError(started.left.message));
  return E.right({ ...started.right, cvq: started.right.setup });
}
