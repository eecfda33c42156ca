/**
 * One IOTLB (one vhost-vdpa address space, ASID): IOVA ranges mapped onto host memory, as
 * vhost_vdpa_process_iotlb_msg keeps them in a `vhost_iotlb` interval tree.
 *
 * The device's view is an `AddressSpace` whose regions alias the host buffers
 * (`addRegion(iova, hostRegion.buffer, { offset, size })`), so the ring layer and the CVQ/dataplane read
 * and write exactly the bytes the driver put in host memory. An update whose host range spans several
 * host regions becomes one entry with several aliased regions.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, type Region } from '../../memory/address-space.js';
import { VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO } from '../types.js';
import { ERRNO } from './errno.js';

export interface IotlbEntry {
  readonly iova: number;
  readonly size: number;
  readonly hva: number;
  readonly perm: number;
  readonly regions: readonly Region[];
}

export interface IotlbFailure {
  readonly errno: number;
  readonly message: string;
}

const fail = (errno: number, message: string): E.Either<IotlbFailure, never> => E.left({ errno, message });

export class Iotlb {
  readonly space: AddressSpace;
  private readonly list: IotlbEntry[] = [];
  /** VHOST_ACCESS_* per aliased region; a device may share one map across its ASIDs. */
  private readonly perms: Map<Region, number>;

  constructor(
    readonly asid: number,
    deviceName: string,
    perms: Map<Region, number> = new Map(),
  ) {
    this.perms = perms;
    this.space = new AddressSpace(`iova:${deviceName}:as${asid}`);
  }

  entries(): readonly IotlbEntry[] {
    return this.list;
  }

  /** VHOST_ACCESS_* of the region the device resolved an access to (0 when not ours). */
  permOf(region: Region): number {
    return this.perms.get(region) ?? 0;
  }

  /**
   * VHOST_IOTLB_UPDATE: map [iova, iova+size) → host [hva, hva+size). Errors as the kernel's:
   * EINVAL for size 0, wrap-around, a range outside [first, last] or bad permissions; EEXIST when the
   * range intersects a mapping; EFAULT when the host range is not host memory.
   */
  update(host: AddressSpace, iova: number, size: number, hva: number, perm: number, range: { first: number; last: number }): E.Either<IotlbFailure, IotlbEntry> {
    if (!Number.isSafeInteger(iova) || !Number.isSafeInteger(size) || !Number.isSafeInteger(hva) || iova < 0 || hva < 0) {
      return fail(ERRNO.EINVAL, `IOTLB update: addresses must be integers below 2^53`);
    }
    if (size <= 0) return fail(ERRNO.EINVAL, 'IOTLB update: size 0');
    const last = iova + size - 1;
    if (iova < range.first || last > range.last) {
      return fail(ERRNO.EINVAL, `IOTLB update: [0x${iova.toString(16)}, 0x${last.toString(16)}] outside the IOVA range [0x${range.first.toString(16)}, 0x${range.last.toString(16)}]`);
    }
    if (perm !== VHOST_ACCESS_RO && perm !== VHOST_ACCESS_WO && perm !== VHOST_ACCESS_RW) {
      return fail(ERRNO.EINVAL, `IOTLB update: permission ${perm} is not RO, WO or RW`);
    }
    for (const e of this.list) {
      if (iova <= e.iova + e.size - 1 && e.iova <= last) {
        return fail(ERRNO.EEXIST, `IOTLB update: [0x${iova.toString(16)}, 0x${last.toString(16)}] overlaps the mapping at 0x${e.iova.toString(16)} (+0x${e.size.toString(16)})`);
      }
    }
    // Resolve the host range piece by piece before touching anything.
    const pieces: { iova: number; region: Region; offset: number; size: number }[] = [];
    let done = 0;
    while (done < size) {
      const h = hva + done;
      const r = host.find(h, 1);
      if (r === undefined) return fail(ERRNO.EFAULT, `IOTLB update: host address 0x${h.toString(16)} is not mapped host memory`);
      const n = Math.min(size - done, r.base + r.size - h);
      pieces.push({ iova: iova + done, region: r, offset: r.offset + (h - r.base), size: n });
      done += n;
    }
    const regions: Region[] = [];
    for (const p of pieces) {
      const added = this.space.addRegion(p.iova, p.region.buffer, { offset: p.offset, size: p.size, name: `${this.space.name}@0x${p.iova.toString(16)}` });
      if (E.isLeft(added)) {
        for (const r of regions) this.space.removeRegion(r.base);
        return fail(ERRNO.EINVAL, added.left.message);
      }
      regions.push(added.right);
      this.perms.set(added.right, perm);
    }
    const entry: IotlbEntry = { iova, size, hva, perm, regions };
    let i = this.list.length;
    while (i > 0 && this.list[i - 1]!.iova > iova) i--;
    this.list.splice(i, 0, entry);
    return E.right(entry);
  }

  /**
   * VHOST_IOTLB_INVALIDATE: remove every mapping that intersects [iova, iova+size) — whole mappings, as
   * vhost_iotlb_del_range does. Invalidating nothing is not an error. Returns the entries removed.
   */
  invalidate(iova: number, size: number): IotlbEntry[] {
    const last = iova + Math.max(size, 1) - 1;
    const removed: IotlbEntry[] = [];
    for (let i = this.list.length - 1; i >= 0; i--) {
      const e = this.list[i]!;
      if (iova <= e.iova + e.size - 1 && e.iova <= last) {
        for (const r of e.regions) {
          this.space.removeRegion(r.base);
          this.perms.delete(r);
        }
        this.list.splice(i, 1);
        removed.unshift(e);
      }
    }
    return removed;
  }

  clear(): void {
    for (const e of this.list) {
      for (const r of e.regions) {
        this.space.removeRegion(r.base);
        this.perms.delete(r);
      }
    }
    this.list.length = 0;
  }
}
