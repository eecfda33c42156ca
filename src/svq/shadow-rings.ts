/**
 * The SVQ back end on a vDPA device: the part every shadowed queue needs from the device, whoever drives
 * the switch — machines/svq-switch through src/effects/svq.ts (a running device switched live), or
 * `SvqDevice` (src/svq/svq-device.ts, a device set up shadowed from a reset):
 *
 *  - shadow ring memory: host memory from the device, given IOVAs by the IOVA tree and mapped into the
 *    IOTLB as QEMU maps it (hw/virtio/vhost-vdpa.c `vhost_vdpa_svq_map_rings`): descriptor + driver area
 *    read-only for the device (read-write for a packed ring, whose descriptors the device overwrites,
 *    virtio 1.2 §2.8.7), the device area read-write on its own page, indirect tables read-only, CVQ
 *    command buffers (out read-only, ack bytes read-write); SVQ writes them through `view`, which aliases
 *    the same bytes at their IOVAs;
 *  - pointing a queue at a ring (disable, VHOST_SET_VRING_ADDR / _BASE, enable: the device runs them after
 *    DRIVER_OK with VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK);
 *  - relaying device calls to the shadow queues, event-driven where the device has eventfds
 *    (`watchCalls`: a poll on libuv's thread pool), by `waitCall` in turn otherwise (the simulator);
 *  - the drain check: the device cannot have consumed more of a shadow ring than SVQ offered.
 *
 * Each operation is one device step for its caller (an effect, or a step of `SvqDevice.start`); none
 * loops over queues or retries: sequences belong to the machines and to their effects' inputs.
 */
import * as E from 'fp-ts/lib/Either.js';
import { PAGE_SIZE, type AddressSpace, type Region } from '../memory/address-space.js';
import { encodeBase, placeRing } from '../ring/index.js';
import type { RingAddrs, RingBase, RingLayout } from '../ring/types.js';
import { deviceError, VHOST_ACCESS_RO, VHOST_ACCESS_RW, type BusyPoll, type DeviceError, type VdpaDevice } from '../device/types.js';
import { isIovaTreeError, type IovaTree } from './iova-tree.js';
import type { CvqBuffers } from './shadow-cvq.js';

/** CVQ command slots and their buffer size (QEMU: one page each for out and in). */
export const CVQ_SLOTS = 16;
export const CVQ_SLOT_BYTES = PAGE_SIZE;

export interface ShadowRingSpec {
  readonly layout: RingLayout;
  readonly size: number;
  /** Room for shadow indirect tables (the device negotiated INDIRECT_DESC). */
  readonly indirect: boolean;
  /** The CVQ's command buffers next to the ring. */
  readonly cvq: boolean;
}

/** One queue's shadow ring memory, at IOVAs. */
export interface ShadowRingMemory {
  readonly addrs: RingAddrs;
  readonly indirectArea?: { readonly addr: number; readonly size: number };
  readonly cvq?: CvqBuffers;
}

interface Mapping {
  readonly iova: number;
  readonly size: number;
}

interface RingMem {
  readonly region: Region;
  readonly maps: Mapping[];
  readonly memory: ShadowRingMemory;
}

/**
 * IOTLB (and IOVA tree) mappings one shadow ring takes: descriptor + driver area, device area, then the
 * indirect tables and the CVQ's out and in buffers when it has them.
 */
export const ringMappings = (spec: Pick<ShadowRingSpec, 'indirect' | 'cvq'>): number => 2 + (spec.indirect ? 1 : 0) + (spec.cvq ? 2 : 0);

const pageUp = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

export class ShadowRings {
  private readonly rings = new Map<number, RingMem>();
  private relay: { stop(): void; poke?(): void } | undefined;

  constructor(
    readonly dev: VdpaDevice,
    /** The IOVA tree shared with the shadow queues' translation of guest buffers. */
    readonly tree: IovaTree,
    /** SVQ's view of the device's IOVA space (regions alias host memory at their IOVAs). */
    readonly view: AddressSpace,
    /** The address space the shadow rings are mapped into (ASID 1 when only the CVQ is shadowed). */
    readonly asid = 0,
  ) {}

  /** Queues that have shadow ring memory. */
  queues(): number[] {
    return [...this.rings.keys()];
  }

  memory(qi: number): ShadowRingMemory | undefined {
    return this.rings.get(qi)?.memory;
  }

  /** Alias device host memory [hva, hva+size) into `view` at `iova`. */
  alias(iova: number, hva: number, size: number, name = `iova@0x${iova.toString(16)}`): E.Either<DeviceError, void> {
    const r = this.dev.host.find(hva, size);
    if (r === undefined) return E.left(deviceError('invalid', 'svq alias', `host range 0x${hva.toString(16)} (+${size}) is not in the device's host memory`));
    const a = this.view.addRegion(iova, r.buffer, { offset: r.offset + (hva - r.base), size, name });
    return E.isLeft(a) ? E.left(deviceError('invalid', 'svq alias', a.left.message)) : E.right(undefined);
  }

  /**
   * Allocate, map and alias the shadow ring memory of queue `qi` (QEMU vhost_vdpa_svq_map_rings). On
   * failure nothing of it is left: no IOTLB entry, tree entry, alias or host memory. (Long: each part —
   * rings, indirect tables, buffers — is placed, mapped with its permission and undone in one place.)
   */
  map(qi: number, spec: ShadowRingSpec): E.Either<DeviceError, ShadowRingMemory> {
    if (this.rings.has(qi)) return E.left(deviceError('state', 'svq map', `queue ${qi} already has a shadow ring`));
    const { layout, size } = spec;
    const local = placeRing(layout, size, 0, { deviceAlign: PAGE_SIZE });
    const drvBytes = local.addrs.device; // desc + driver area, page-rounded by deviceAlign
    const devBytes = pageUp(local.end - local.addrs.device);
    const indBytes = spec.indirect ? pageUp(size * 16 * 16) : 0;
    const outBytes = spec.cvq ? CVQ_SLOTS * CVQ_SLOT_BYTES : 0;
    const inBytes = spec.cvq ? PAGE_SIZE : 0;
    const region = this.dev.allocHost(drvBytes + devBytes + indBytes + outBytes + inBytes, `svq-${qi}-${layout}-${size}`);
    if (E.isLeft(region)) return region;
    const hva = region.right.base;
    const ring: RingMem = { region: region.right, maps: [], memory: { addrs: { desc: 0, driver: 0, device: 0 } } };
    const part = (at: number, bytes: number, perm: number): number | DeviceError => {
      const m = this.tree.mapAlloc('hva', { translatedAddr: at, size: bytes - 1, perm });
      if (isIovaTreeError(m)) return deviceError('iotlb', 'svq map', `shadow memory at 0x${at.toString(16)}: ${m.message}`);
      const up = this.dev.iotlbUpdate(this.asid, m.iova, bytes, at, perm);
      if (E.isLeft(up)) {
        this.tree.remove(m.iova);
        return up.left;
      }
      const a = this.alias(m.iova, at, bytes, `svq-${qi}@0x${m.iova.toString(16)}`);
      if (E.isLeft(a)) {
        void this.dev.iotlbInvalidate(this.asid, m.iova, bytes);
        this.tree.remove(m.iova);
        return a.left;
      }
      ring.maps.push({ iova: m.iova, size: bytes });
      return m.iova;
    };
    const undo = (e: DeviceError): E.Either<DeviceError, never> => {
      this.release(ring);
      return E.left(e);
    };
    // split: the device only reads the descriptor table and avail ring; packed: it writes used
    // descriptors back into the descriptor ring (§2.8.7), so that part is read-write
    const drv = part(hva, drvBytes, layout === 'packed' ? VHOST_ACCESS_RW : VHOST_ACCESS_RO);
    if (typeof drv !== 'number') return undo(drv);
    const dev = part(hva + drvBytes, devBytes, VHOST_ACCESS_RW);
    if (typeof dev !== 'number') return undo(dev);
    let at = hva + drvBytes + devBytes;
    let indirectArea: ShadowRingMemory['indirectArea'];
    if (spec.indirect) {
      const i = part(at, indBytes, VHOST_ACCESS_RO);
      if (typeof i !== 'number') return undo(i);
      indirectArea = { addr: i, size: indBytes };
      at += indBytes;
    }
    let cvq: CvqBuffers | undefined;
    if (spec.cvq) {
      const o = part(at, outBytes, VHOST_ACCESS_RO);
      if (typeof o !== 'number') return undo(o);
      const i = part(at + outBytes, inBytes, VHOST_ACCESS_RW);
      if (typeof i !== 'number') return undo(i);
      cvq = { out: o, in: i, slotBytes: CVQ_SLOT_BYTES, slots: CVQ_SLOTS };
    }
    const memory: ShadowRingMemory = {
      addrs: { desc: drv + local.addrs.desc, driver: drv + local.addrs.driver, device: dev },
      ...(indirectArea === undefined ? {} : { indirectArea }),
      ...(cvq === undefined ? {} : { cvq }),
    };
    this.rings.set(qi, { ...ring, memory });
    return E.right(memory);
  }

  /** Unmap and free queue `qi`'s shadow ring memory (after the device stopped using it); none: nothing to do. */
  unmap(qi: number): E.Either<DeviceError, void> {
    const ring = this.rings.get(qi);
    if (ring === undefined) return E.right(undefined);
    // part by part, so a refused invalidate leaves exactly the parts still mapped for a retry
    while (ring.maps.length > 0) {
      const m = ring.maps[0]!;
      const inv = this.dev.iotlbInvalidate(this.asid, m.iova, m.size);
      if (E.isLeft(inv)) return inv;
      ring.maps.shift();
      this.tree.remove(m.iova);
      this.view.removeRegion(m.iova);
    }
    this.rings.delete(qi);
    return this.dev.freeHost(ring.region);
  }

  /** What a failed `map` leaves behind, undone (errors of the undo are the device's last word: ignored). */
  private release(ring: RingMem): void {
    for (const m of ring.maps) {
      void this.dev.iotlbInvalidate(this.asid, m.iova, m.size);
      this.tree.remove(m.iova);
      this.view.removeRegion(m.iova);
    }
    ring.maps.length = 0;
    void this.dev.freeHost(ring.region);
  }

  /** Point queue `qi` at the ring at `addrs`, resuming at vhost base `base` (disable, address, base, enable). */
  point(qi: number, addrs: RingAddrs, base: number): E.Either<DeviceError, void> {
    const dev = this.dev;
    const off = dev.setVringEnable(qi, false);
    if (E.isLeft(off)) return off;
    const a = dev.setVringAddr(qi, addrs);
    if (E.isLeft(a)) return a;
    const b = dev.setVringBase(qi, base);
    if (E.isLeft(b)) return b;
    return dev.setVringEnable(qi, true);
  }

  /**
   * The drain check (QEMU vhost_svq_stop after GET_VRING_BASE): on a split shadow ring the device cannot be
   * more than a ring's worth ahead of what SVQ made available (`shadowBase`, SVQ's driver position on
   * it, on whichever thread SVQ ran). Returns the device's vhost base.
   */
  deviceBase(qi: number, shadowBase: RingBase, layout: RingLayout, size: number): E.Either<DeviceError, number> {
    const b = this.dev.getVringBase(qi);
    if (E.isLeft(b)) return b;
    const offered = encodeBase(layout, shadowBase);
    if (layout === 'split' && ((offered - b.right) & 0xffff) > size) {
      return E.left(deviceError('state', 'svq drain', `queue ${qi}: the device is at shadow index ${b.right}, beyond SVQ's ${offered}`));
    }
    return b;
  }

  // ─────────────────────────────── call relay ───────────────────────────────

  get relaying(): boolean {
    return this.relay !== undefined;
  }

  /**
   * Relay the device's calls on `qis` to `onCall` until `stopRelay` (or the device goes away). A device
   * with call eventfds is watched event-driven (`watchCalls`); one without (the simulator, whose waits run
   * on a virtual clock) is waited on queue by queue with `waitCall(qi, waitMs)`. With `busyPoll`, an
   * event-driven relay also polls the used rings after `pokeRelay()` (a burst kicked), see `BusyPoll`.
   */
  relayCalls(qis: readonly number[], onCall: (qi: number) => void, waitMs = 10, busyPoll?: BusyPoll): void {
    this.stopRelay();
    if (qis.length === 0) return;
    const self: { stop(): void; poke?(): void } = { stop: () => undefined };
    const gone = (): void => {
      if (this.relay === self) this.relay = undefined;
    };
    if (this.dev.watchCalls !== undefined) {
      const w = this.dev.watchCalls(qis, onCall, gone, busyPoll);
      if (E.isRight(w)) {
        const h = w.right;
        self.stop = () => h.stop();
        if (h.poke !== undefined) self.poke = () => h.poke!();
        this.relay = self;
        return;
      }
    }
    let on = true;
    self.stop = () => void (on = false);
    this.relay = self;
    const dev = this.dev;
    void (async () => {
      while (on) {
        let called = false;
        for (const qi of qis) {
          const r = await dev.waitCall(qi, waitMs);
          if (!on) return;
          if (E.isLeft(r)) return gone(); // the device is gone (closed, reset): nothing more will call
          if (r.right) {
            called = true;
            onCall(qi);
          }
        }
        // a device whose wait answers at once (the simulator's virtual clock) must not starve the loop
        if (!called) await new Promise((r) => setImmediate(r));
      }
    })();
  }

  /** A burst was made available to the device: an event-driven relay with `busyPoll` polls for it now. */
  pokeRelay(): void {
    this.relay?.poke?.();
  }

  stopRelay(): void {
    const r = this.relay;
    this.relay = undefined;
    r?.stop();
  }
}
