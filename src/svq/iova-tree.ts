/**
 * The IOVA tree of vhost-vdpa SVQ (QEMU hw/virtio/vhost-iova-tree.c), as three maps:
 *
 *  - `iova`  — allocated IOVA ranges (every mapping, whatever it translates), keyed by IOVA;
 *  - `hva`   — IOVA ↔ host-virtual translations (shadow rings, SVQ's own buffers), keyed by HVA;
 *  - `gpa`   — guest-physical → IOVA (guest memory in "shadow everything" mode), keyed by GPA.
 *
 * Host and guest memory are kept apart, as in QEMU since the GPA map was split out: one host page may
 * back guest memory and also be mapped for SVQ, and a lookup by GPA must never land on an SVQ mapping.
 *
 * Sizes are inclusive (`size` = bytes − 1), as QEMU's `DMAMap`. Allocation is first-fit inside
 * `[max(first, PAGE_SIZE), last]` of the device's range (VHOST_VDPA_GET_IOVA_RANGE); an allocated IOVA
 * keeps the page offset of what it translates (iova ≡ addr mod 4096) so an IOMMU mapping pages can hold it.
 *
 * Translation of a buffer (addr, len) walks the mappings it crosses and yields one segment per
 * discontinuity in IOVA space; a hole, a missing permission or too many segments is a typed error,
 * never a truncated buffer. The hot path (`translate`) allocates nothing on success.
 */
import { MAX_SAFE_ADDR, PAGE_SIZE } from '../memory/address-space.js';
import { VHOST_ACCESS_RO as ACCESS_RO, VHOST_ACCESS_WO as ACCESS_WO, type IovaRange } from '../device/types.js';

/** Module-local copies (an imported binding is a cell load and a TDZ check per use in optimized code; `translate` is hot). */
const VHOST_ACCESS_RO = ACCESS_RO;
const VHOST_ACCESS_WO = ACCESS_WO;

/** Which address a mapping translates: host-virtual (SVQ's memory) or guest-physical. */
export type MapKind = 'hva' | 'gpa';

/** QEMU's DMAMap: `size` is inclusive (a one-page map has size 0xfff). */
export interface DMAMap {
  readonly iova: number;
  readonly translatedAddr: number;
  readonly size: number;
  /** VHOST_ACCESS_RO / _WO / _RW. */
  readonly perm: number;
  readonly kind: MapKind;
}

export type IovaTreeErrorKind =
  | 'invalid' // size/address overflow, negative, non-integer, or no permission (QEMU IOVA_ERR_INVALID)
  | 'overlap' // range already mapped (QEMU IOVA_ERR_OVERLAP)
  | 'no-space' // no hole large enough in the IOVA range (QEMU IOVA_ERR_NOMEM)
  | 'out-of-range' // a fixed IOVA outside the device's range
  | 'unmapped' // translation hit an address no mapping covers
  | 'permission' // translation of a buffer the mapping does not allow in that direction
  | 'too-many-segments' // translation needs more segments than the caller has room for
  | 'not-found'; // remove of a map that is not there

export interface IovaTreeError {
  readonly _tag: 'IovaTreeError';
  readonly kind: IovaTreeErrorKind;
  readonly addr: number;
  readonly len: number;
  readonly message: string;
}

export const iovaTreeError = (kind: IovaTreeErrorKind, addr: number, len: number, what?: string): IovaTreeError => ({
  _tag: 'IovaTreeError',
  kind,
  addr,
  len,
  message: `iova tree: ${what ?? kind} at 0x${addr.toString(16)} (+${len})`,
});

export const isIovaTreeError = (x: unknown): x is IovaTreeError =>
  typeof x === 'object' && x !== null && (x as { _tag?: unknown })._tag === 'IovaTreeError';

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Non-overlapping ranges sorted by one key (`iova` or `translatedAddr`); binary search with a last-hit
 * cache, so the lookups of a buffer's segments (usually in the same map as the previous one) are O(1).
 */
class RangeMap {
  readonly list: DMAMap[] = [];
  private last: DMAMap | undefined;

  constructor(private readonly byIova: boolean) {}

  private keyOf(m: DMAMap): number {
    return this.byIova ? m.iova : m.translatedAddr;
  }

  /** Index of the last entry whose start ≤ addr, or -1. */
  private floor(addr: number): number {
    const list = this.list;
    let lo = 0;
    let hi = list.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keyOf(list[mid]!) <= addr) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  /** The entry containing `addr`, or undefined. Allocation-free. */
  find(addr: number): DMAMap | undefined {
    const l = this.last;
    if (l !== undefined) {
      const k = this.keyOf(l);
      if (addr >= k && addr <= k + l.size) return l;
    }
    const i = this.floor(addr);
    if (i < 0) return undefined;
    const m = this.list[i]!;
    if (addr <= this.keyOf(m) + m.size) {
      this.last = m;
      return m;
    }
    return undefined;
  }

  /** The first entry intersecting [start, last] (inclusive), or undefined. */
  overlapping(start: number, lastAddr: number): DMAMap | undefined {
    const i = this.floor(lastAddr);
    if (i < 0) return undefined;
    const m = this.list[i]!;
    return this.keyOf(m) + m.size >= start ? m : undefined;
  }

  insert(m: DMAMap): void {
    const i = this.floor(this.keyOf(m));
    this.list.splice(i + 1, 0, m);
  }

  remove(m: DMAMap): boolean {
    const i = this.list.indexOf(m);
    if (i < 0) return false;
    this.list.splice(i, 1);
    if (this.last === m) this.last = undefined;
    return true;
  }
}

export interface MapRequest {
  /** The host-virtual or guest-physical address the mapping translates. */
  readonly translatedAddr: number;
  /** Inclusive size (bytes − 1). */
  readonly size: number;
  readonly perm: number;
}

export class IovaTree {
  /** First and last usable IOVA, inclusive, after excluding page 0 and clamping to 2^53. */
  readonly first: number;
  readonly last: number;
  private readonly iovaMap = new RangeMap(true);
  private readonly hvaMap = new RangeMap(false);
  private readonly gpaMap = new RangeMap(false);
  private removals = 0;

  constructor(range: IovaRange) {
    // QEMU: iova_first = MAX(iova_range.first, qemu_real_host_page_size()) — IOVA 0 is never handed out.
    this.first = Math.max(range.first, PAGE_SIZE);
    this.last = Math.min(range.last, MAX_SAFE_ADDR);
  }

  private mapOf(kind: MapKind): RangeMap {
    return kind === 'hva' ? this.hvaMap : this.gpaMap;
  }

  private validate(req: MapRequest): IovaTreeError | undefined {
    const { translatedAddr: a, size, perm } = req;
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(size) || a < 0 || size < 0 || a + size > MAX_SAFE_ADDR) {
      return iovaTreeError('invalid', a, size + 1, 'address or size overflows');
    }
    if ((perm & (VHOST_ACCESS_RO | VHOST_ACCESS_WO)) === 0 || (perm & ~(VHOST_ACCESS_RO | VHOST_ACCESS_WO)) !== 0) {
      return iovaTreeError('invalid', a, size + 1, `bad permission ${perm}`);
    }
    return undefined;
  }

  /**
   * Allocate an IOVA range for `req` (first fit) and record the mapping (QEMU
   * `vhost_iova_tree_map_alloc` / `_map_alloc_gpa`). The caller then sends the IOTLB update.
   */
  mapAlloc(kind: MapKind, req: MapRequest): DMAMap | IovaTreeError {
    const bad = this.validate(req);
    if (bad !== undefined) return bad;
    const tm = this.mapOf(kind);
    const clash = tm.overlapping(req.translatedAddr, req.translatedAddr + req.size);
    if (clash !== undefined) {
      return iovaTreeError('overlap', req.translatedAddr, req.size + 1, `${kind} range already mapped at iova ${hex(clash.iova)}`);
    }
    const pageOff = req.translatedAddr % PAGE_SIZE;
    // Walk the holes between allocated ranges in IOVA order; the first one that fits wins.
    let holeStart = this.first;
    const list = this.iovaMap.list;
    for (let i = 0; i <= list.length; i++) {
      const candidate = alignUp(holeStart, pageOff);
      const holeEnd = i < list.length ? list[i]!.iova - 1 : this.last;
      if (candidate + req.size <= holeEnd && candidate + req.size <= this.last) {
        const m: DMAMap = { iova: candidate, translatedAddr: req.translatedAddr, size: req.size, perm: req.perm, kind };
        this.iovaMap.insert(m);
        tm.insert(m);
        return m;
      }
      if (i < list.length) holeStart = Math.max(holeStart, list[i]!.iova + list[i]!.size + 1);
    }
    return iovaTreeError('no-space', req.translatedAddr, req.size + 1, `no IOVA hole of ${req.size + 1} bytes in [${hex(this.first)}, ${hex(this.last)}]`);
  }

  /** Record a mapping at a fixed IOVA (e.g. IOVA = GPA for pass-through data queues). */
  insert(kind: MapKind, iova: number, req: MapRequest): DMAMap | IovaTreeError {
    const bad = this.validate(req);
    if (bad !== undefined) return bad;
    if (!Number.isSafeInteger(iova) || iova < 0) return iovaTreeError('invalid', iova, req.size + 1, 'bad iova');
    if (iova < this.first || iova + req.size > this.last) {
      return iovaTreeError('out-of-range', iova, req.size + 1, `iova outside [${hex(this.first)}, ${hex(this.last)}]`);
    }
    const taken = this.iovaMap.overlapping(iova, iova + req.size);
    if (taken !== undefined) return iovaTreeError('overlap', iova, req.size + 1, `iova range taken by ${hex(taken.iova)}`);
    const tm = this.mapOf(kind);
    const clash = tm.overlapping(req.translatedAddr, req.translatedAddr + req.size);
    if (clash !== undefined) return iovaTreeError('overlap', req.translatedAddr, req.size + 1, `${kind} range already mapped`);
    const m: DMAMap = { iova, translatedAddr: req.translatedAddr, size: req.size, perm: req.perm, kind };
    this.iovaMap.insert(m);
    tm.insert(m);
    return m;
  }

  /** Remove the mapping starting at `iova` (QEMU `vhost_iova_tree_remove`); returns it for the IOTLB invalidate. */
  remove(iova: number): DMAMap | IovaTreeError {
    const m = this.iovaMap.find(iova);
    if (m === undefined || m.iova !== iova) return iovaTreeError('not-found', iova, 0, 'no mapping starts');
    this.iovaMap.remove(m);
    this.mapOf(m.kind).remove(m);
    this.removals++;
    return m;
  }

  /**
   * Mappings removed so far. Mappings are immutable and never overlap within a map, so a translation a
   * caller cached from a mapping (SVQ's last-hit range) stays exact while this number is unchanged.
   */
  get generation(): number {
    return this.removals;
  }

  /** The mapping of `kind` containing `addr` (QEMU `vhost_iova_tree_find_iova` / `_find_gpa`). */
  lookup(kind: MapKind, addr: number): DMAMap | undefined {
    return this.mapOf(kind).find(addr);
  }

  /** The mapping containing an IOVA (the device's view), whatever it translates. */
  lookupIova(iova: number): DMAMap | undefined {
    return this.iovaMap.find(iova);
  }

  /** All mappings in IOVA order (a copy). */
  maps(): DMAMap[] {
    return this.iovaMap.list.slice();
  }

  /**
   * Translate [addr, addr+len) of `kind` into IOVA segments written at `outAddr[at..]` / `outLen[at..]`
   * (at most `cap` segments in total, counting from index 0). Adjacent mappings contiguous in IOVA give one
   * segment. `writable` is the device's access (a device-writable buffer needs VHOST_ACCESS_WO).
   * Returns the number of segments written, or an error: nothing is ever truncated. Allocation-free.
   */
  translate(kind: MapKind, addr: number, len: number, writable: boolean, outAddr: Float64Array, outLen: Uint32Array, at: number, cap: number): number | IovaTreeError {
    const tm = this.mapOf(kind);
    const need = writable ? VHOST_ACCESS_WO : VHOST_ACCESS_RO;
    let cur = addr;
    let left = len;
    let n = 0;
    do {
      const m = tm.find(cur);
      if (m === undefined || (m.perm & need) === 0) return translateError(m === undefined ? 'unmapped' : 'permission', kind, cur, left, writable);
      const off = cur - m.translatedAddr;
      const room = m.size - off + 1;
      const take = left < room ? left : room;
      const iova = m.iova + off;
      const prev = at + n - 1;
      if (n > 0 && outAddr[prev]! + outLen[prev]! === iova && outLen[prev]! + take <= 0xffffffff) {
        outLen[prev] = outLen[prev]! + take;
      } else {
        if (at + n >= cap) return translateError('too-many-segments', kind, addr, len, writable, cap - at);
        outAddr[at + n] = iova;
        outLen[at + n] = take;
        n++;
      }
      cur += take;
      left -= take;
    } while (left > 0);
    return n;
  }

  /** Translate one address that must be followed by `len` contiguous IOVA bytes; -1 if it is not. Allocation-free. */
  translateContiguous(kind: MapKind, addr: number, len: number): number {
    const m = this.mapOf(kind).find(addr);
    if (m === undefined) return -1;
    const off = addr - m.translatedAddr;
    if (len > 0 && off + len - 1 > m.size) return -1;
    return m.iova + off;
  }
}

/** The error `translate` returns, built out of line so that `translate` stays small enough to inline. */
function translateError(kind: 'unmapped' | 'permission' | 'too-many-segments', map: MapKind, addr: number, len: number, writable: boolean, room = 0): IovaTreeError {
  if (kind === 'unmapped') return iovaTreeError(kind, addr, len, `${map} address not mapped`);
  if (kind === 'permission') return iovaTreeError(kind, addr, len, `${map} mapping lacks ${writable ? 'write' : 'read'} access`);
  return iovaTreeError(kind, addr, len, `buffer needs more than ${room} segments`);
}

/** Smallest a ≥ x with a ≡ pageOff (mod PAGE_SIZE). */
function alignUp(x: number, pageOff: number): number {
  const base = x - (x % PAGE_SIZE) + pageOff;
  return base >= x ? base : base + PAGE_SIZE;
}
