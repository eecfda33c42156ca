/**
 * The guest side of a vDPA NIC's data queues, as QEMU sets it up for a passthrough device: guest RAM
 * is host memory from the device (`allocHost`), visible at guest-physical addresses and mapped into
 * the device's IOTLB with IOVA = GPA; each data queue's ring lives in guest RAM and is driven by a
 * guest driver (the ring layer's `RingDriver`), and the device is pointed straight at it. SVQ
 * (src/effects/svq.ts) later interposes itself between these rings and the device.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../memory/address-space.js';
import { placeRing, ringFactory, encodeBase } from '../ring/index.js';
import { Chain, Used, isRingError, type RingConfig, type RingDriver, type RingLayout } from '../ring/types.js';
import { deviceError, VHOST_ACCESS_RW, type DeviceError, type VdpaDevice } from '../device/types.js';
import { hasFeature } from '../virtio/features.js';

/** Guest RAM starts here (IOVA page 0 is never used, QEMU's iova_first rule). */
export const GUEST_RAM_GPA = 0x10_0000;

export interface GuestQueue {
  readonly qi: number;
  readonly config: RingConfig;
  readonly driver: RingDriver;
}

export interface DataPath {
  readonly dev: VdpaDevice;
  readonly asid: number;
  /** Guest RAM: the host region, and the guest-physical view of it. */
  readonly ram: Region;
  readonly gpa: AddressSpace;
  readonly queues: readonly GuestQueue[];
  readonly layout: RingLayout;
  /** First GPA free for buffers. */
  readonly bufBase: number;
  readonly bufEnd: number;
}

const pageUp = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

/**
 * Guest RAM of `ramBytes`, a guest ring of `size` per queue of `queues`, the IOTLB (ASID `asid`)
 * mapping IOVA = GPA, and each queue programmed and (unless `enable: false`, as a migration
 * destination does until its CVQ state is loaded) enabled on the device, which must be at FEATURES_OK
 * or later with `negotiated`.
 */
export function createDataPath(
  dev: VdpaDevice,
  opts: { queues: readonly number[]; size: number; negotiated: bigint; asid?: number; ramBytes?: number; enable?: boolean },
): E.Either<DeviceError, DataPath> {
  const asid = opts.asid ?? 0;
  const layout: RingLayout = hasFeature(opts.negotiated, 'RING_PACKED') ? 'packed' : 'split';
  const eventIdx = hasFeature(opts.negotiated, 'EVENT_IDX');
  const ram = dev.allocHost(opts.ramBytes ?? 1 << 20, 'guest-ram');
  if (E.isLeft(ram)) return ram;
  const gpa = new AddressSpace('gpa');
  const added = gpa.addRegion(GUEST_RAM_GPA, ram.right.buffer, { offset: ram.right.offset, size: ram.right.size, name: 'guest-ram' });
  if (E.isLeft(added)) return E.left(deviceError('invalid', 'guest-ram', added.left.message));
  const map = dev.iotlbUpdate(asid, GUEST_RAM_GPA, ram.right.size, ram.right.base, VHOST_ACCESS_RW);
  if (E.isLeft(map)) return map;
  const queues: GuestQueue[] = [];
  let at = GUEST_RAM_GPA;
  for (const qi of opts.queues) {
    const placed = placeRing(layout, opts.size, at);
    const config: RingConfig = { layout, size: opts.size, addrs: placed.addrs, eventIdx, indirect: false };
    at = pageUp(placed.end);
    const driver = ringFactory(layout).driver(gpa, config);
    if (isRingError(driver)) return E.left(deviceError('invalid', 'guest ring', driver.message));
    const steps = [
      () => dev.setVringNum(qi, opts.size),
      () => dev.setVringAddr(qi, config.addrs),
      () => dev.setVringBase(qi, encodeBase(layout, driver.base())),
      ...(opts.enable === false ? [] : [() => dev.setVringEnable(qi, true)]),
    ];
    for (const s of steps) {
      const r = s();
      if (E.isLeft(r)) return r;
    }
    queues.push({ qi, config, driver });
  }
  return E.right({ dev, asid, ram: ram.right, gpa, queues, layout, bufBase: at, bufEnd: GUEST_RAM_GPA + ram.right.size });
}

/** virtio_net_hdr with VIRTIO_F_VERSION_1 (virtio 1.2 §5.1.6: num_buffers always present). */
export const NET_HDR_LEN = 12;
const RX_BUF = 2048;

/**
 * A guest NIC driver on a data path, enough to put traffic through it: RX buffers posted to even
 * queues, frames sent on odd ones (queue pair p = 2p, 2p + 1), used chains reaped and counted. The
 * counts are the "no buffer lost" ledger: every chain made available is reaped exactly once.
 */
export class GuestNic {
  private next: number;
  private readonly chain = new Chain(4);
  private readonly used = new Used();
  /** The frame written for each send (reused: only its sequence byte changes between frames of a length). */
  private frame = new Uint8Array(0);
  posted = 0;
  reaped = 0;
  rxBytes = 0;

  constructor(
    readonly path: DataPath,
    /** How the guest notifies a queue (the device's kick, or SVQ's when shadowed). */
    private readonly notify: (qi: number) => E.Either<DeviceError, void>,
  ) {
    this.next = path.bufBase;
  }

  /** Guest buffer memory, handed out round-robin (the ledger never has more in flight than fits). */
  private alloc(len: number): number {
    const size = Math.ceil(len / 64) * 64;
    if (this.next + size > this.path.bufEnd) this.next = this.path.bufBase;
    const a = this.next;
    this.next += size;
    return a;
  }

  private queue(qi: number): GuestQueue {
    return this.path.queues.find((q) => q.qi === qi)!;
  }

  /** Post `n` receive buffers on `qi`. */
  postRx(qi: number, n: number): E.Either<DeviceError, void> {
    const q = this.queue(qi);
    for (let i = 0; i < n; i++) {
      this.chain.reset();
      this.chain.push(this.alloc(RX_BUF), RX_BUF, true);
      const r = q.driver.add(this.chain, 0);
      if (isRingError(r)) return E.left(deviceError('invalid', 'guest rx', r.message));
      this.posted++;
    }
    return this.notify(qi);
  }

  /** Send `n` frames of `len` bytes (after the header) on `qi`. */
  sendTx(qi: number, n: number, len = 60): E.Either<DeviceError, void> {
    const q = this.queue(qi);
    for (let i = 0; i < n; i++) {
      const addr = this.alloc(NET_HDR_LEN + len);
      let frame = this.frame;
      if (frame.length !== NET_HDR_LEN + len) {
        frame = this.frame = new Uint8Array(NET_HDR_LEN + len);
        frame.fill(0xff, NET_HDR_LEN, NET_HDR_LEN + 6); // broadcast destination
        frame[NET_HDR_LEN + 12] = 0x08; // ethertype IPv4
      }
      frame[NET_HDR_LEN + 14] = i & 0xff;
      const w = this.path.gpa.write(addr, frame);
      if (E.isLeft(w)) return E.left(deviceError('invalid', 'guest tx', w.left.message));
      this.chain.reset();
      this.chain.push(addr, NET_HDR_LEN + len, false);
      const r = q.driver.add(this.chain, 1);
      if (isRingError(r)) return E.left(deviceError('invalid', 'guest tx', r.message));
      this.posted++;
    }
    return this.notify(qi);
  }

  /** Reap every used chain of every queue; the count reaped now. */
  reap(): E.Either<DeviceError, number> {
    let n = 0;
    for (const q of this.path.queues) {
      for (;;) {
        const r = q.driver.reap(this.used);
        if (r === false) break;
        if (r !== true) return E.left(deviceError('invalid', `guest reap q${q.qi}`, r.message));
        if (this.used.token === 0) this.rxBytes += this.used.len;
        n++;
      }
    }
    this.reaped += n;
    return E.right(n);
  }

  /** Chains made available and not reaped (on the guest rings, in SVQ, or in the device). */
  inFlight(): number {
    return this.path.queues.reduce((n, q) => n + q.driver.inFlight(), 0);
  }
}
