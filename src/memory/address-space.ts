/**
 * Address spaces made of regions, each backed by an ArrayBuffer or a SharedArrayBuffer (guest memory and
 * shadow rings shared with SVQ worker threads, src/svq/worker.ts).
 *
 * One class serves every address space shadowvq deals with, as in QEMU:
 *  - guest-physical memory (GPA), where the guest driver keeps its rings and buffers;
 *  - host memory (HVA), where SVQ keeps shadow rings (on the real device: mmap'ed MAP_SHARED pages);
 *  - a device's IOVA view, built from its IOTLB entries (aliases of host regions).
 *
 * Addresses are JavaScript numbers (exact below 2^53); 64-bit values read from rings are assembled from
 * two u32 halves and anything at or above 2^53 is refused as unmapped. All multi-byte accessors are
 * little-endian (virtio 1.2 §1.4: "le" fields). Every access is bounds-checked: an access that is not
 * entirely inside one region reads or writes nothing and yields a typed `MemoryError`.
 */
import * as E from 'fp-ts/lib/Either.js';

export const PAGE_SIZE = 4096;
export const TWO32 = 4294967296;
/** First address that a JS number cannot represent exactly. */
export const MAX_SAFE_ADDR = Number.MAX_SAFE_INTEGER;

export type MemoryErrorKind = 'unmapped' | 'overlap' | 'invalid-region';

export interface MemoryError {
  readonly _tag: 'MemoryError';
  readonly kind: MemoryErrorKind;
  /** Name of the address space ("gpa", "hva", "iova:vdpa0" …). */
  readonly space: string;
  readonly addr: number;
  readonly len: number;
  readonly message: string;
}

export const memoryError = (kind: MemoryErrorKind, space: string, addr: number, len: number, what?: string): MemoryError => ({
  _tag: 'MemoryError',
  kind,
  space,
  addr,
  len,
  message: `${space}: ${what ?? kind} at 0x${addr.toString(16)} (+${len})`,
});

export interface Region {
  readonly name: string;
  /** First address of the region in this space. */
  readonly base: number;
  readonly size: number;
  readonly buffer: ArrayBufferLike;
  /** Byte offset of the region inside `buffer` (regions may alias part of a larger buffer). */
  readonly offset: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

/** Called after every write the owner of this space reports (see `noteWrite`). */
export type WriteHook = (addr: number, len: number) => void;

export class AddressSpace {
  private readonly list: Region[] = [];
  private last: Region | undefined;
  /**
   * [base, end) of the region `find` hit last, as raw doubles ([NaN, NaN] when there is none), the same
   * array for the space's life. The hot `contains` test reads two elements of it instead of the region
   * object and its boxed (≥ 2^31) base; the ring layer's pop paths read it inline (an address passed
   * as an argument to a call V8 does not inline is boxed) and call `contains` only when it misses.
   * Read-only outside this class.
   */
  readonly lastRange = new Float64Array([Number.NaN, Number.NaN]);
  private hook: WriteHook | undefined;

  constructor(readonly name: string) {}

  /** Regions, sorted by base address. */
  regions(): readonly Region[] {
    return this.list;
  }

  /**
   * Map `size` bytes of `buffer` (from `offset`) at `base`. A fresh zeroed buffer is made when `buffer`
   * is a number (its size): a SharedArrayBuffer with `shared`. Overlap with an existing region is an error.
   */
  addRegion(base: number, buffer: ArrayBufferLike | number, opts: { offset?: number; size?: number; name?: string; shared?: boolean } = {}): E.Either<MemoryError, Region> {
    const buf = typeof buffer === 'number' ? (opts.shared === true ? new SharedArrayBuffer(buffer) : new ArrayBuffer(buffer)) : buffer;
    const offset = opts.offset ?? 0;
    const size = opts.size ?? buf.byteLength - offset;
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(size) || size <= 0 || base + size > MAX_SAFE_ADDR ||
        offset < 0 || offset + size > buf.byteLength) {
      return E.left(memoryError('invalid-region', this.name, base, size));
    }
    for (const r of this.list) {
      if (base < r.base + r.size && r.base < base + size) {
        return E.left(memoryError('overlap', this.name, base, size, `region overlaps ${r.name}`));
      }
    }
    const region: Region = {
      name: opts.name ?? `${this.name}@0x${base.toString(16)}`,
      base,
      size,
      buffer: buf,
      offset,
      bytes: new Uint8Array(buf, offset, size),
      view: new DataView(buf, offset, size),
    };
    this.list.push(region);
    this.list.sort((a, b) => a.base - b.base);
    return E.right(region);
  }

  /** Remove the region that starts at `base`. */
  removeRegion(base: number): E.Either<MemoryError, Region> {
    const i = this.list.findIndex((r) => r.base === base);
    if (i < 0) return E.left(memoryError('unmapped', this.name, base, 0, 'no region starts'));
    const [r] = this.list.splice(i, 1);
    if (this.last === r) this.setLast(undefined);
    return E.right(r!);
  }

  /** The region holding all of [addr, addr+len), or undefined. Allocation-free (hot path). */
  find(addr: number, len: number): Region | undefined {
    if (!(len >= 0)) return undefined;
    const lr = this.lastRange;
    if (addr >= lr[0]! && addr + len <= lr[1]!) return this.last;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      if (addr >= r.base && addr + len <= r.base + r.size) {
        this.setLast(r);
        return r;
      }
    }
    return undefined;
  }

  private setLast(r: Region | undefined): void {
    this.last = r;
    this.lastRange[0] = r === undefined ? Number.NaN : r.base;
    this.lastRange[1] = r === undefined ? Number.NaN : r.base + r.size;
  }

  /** True when [addr, addr+len) lies inside one region. Allocation-free. */
  contains(addr: number, len: number): boolean {
    // the last region hit first (NaN bounds, a NaN addr or a negative len fail both tests)
    const lr = this.lastRange;
    if (len >= 0 && addr >= lr[0]! && addr + len <= lr[1]!) return true;
    return this.find(addr, len) !== undefined;
  }

  /** Resolve a range to its region, or a typed error naming the address. */
  resolve(addr: number, len: number): E.Either<MemoryError, Region> {
    const r = this.find(addr, len);
    return r === undefined ? E.left(memoryError('unmapped', this.name, addr, len)) : E.right(r);
  }

  /** A view (no copy) of [addr, addr+len). */
  slice(addr: number, len: number): E.Either<MemoryError, Uint8Array> {
    const r = this.find(addr, len);
    if (r === undefined) return E.left(memoryError('unmapped', this.name, addr, len));
    const o = addr - r.base;
    return E.right(r.bytes.subarray(o, o + len));
  }

  read(addr: number, len: number): E.Either<MemoryError, Uint8Array> {
    return E.map((v: Uint8Array) => v.slice())(this.slice(addr, len));
  }

  write(addr: number, data: Uint8Array): E.Either<MemoryError, void> {
    const r = this.find(addr, data.length);
    if (r === undefined) return E.left(memoryError('unmapped', this.name, addr, data.length));
    r.bytes.set(data, addr - r.base);
    this.noteWrite(addr, data.length);
    return E.right(undefined);
  }

  readU8(addr: number): E.Either<MemoryError, number> {
    const r = this.find(addr, 1);
    return r === undefined ? E.left(memoryError('unmapped', this.name, addr, 1)) : E.right(r.bytes[addr - r.base]!);
  }
  readU16(addr: number): E.Either<MemoryError, number> {
    const r = this.find(addr, 2);
    return r === undefined ? E.left(memoryError('unmapped', this.name, addr, 2)) : E.right(r.view.getUint16(addr - r.base, true));
  }
  readU32(addr: number): E.Either<MemoryError, number> {
    const r = this.find(addr, 4);
    return r === undefined ? E.left(memoryError('unmapped', this.name, addr, 4)) : E.right(r.view.getUint32(addr - r.base, true));
  }
  /** A le64 as a number; values ≥ 2^53 are refused (no address of ours is that large). */
  readU64(addr: number): E.Either<MemoryError, number> {
    const r = this.find(addr, 8);
    if (r === undefined) return E.left(memoryError('unmapped', this.name, addr, 8));
    const o = addr - r.base;
    const hi = r.view.getUint32(o + 4, true);
    if (hi >= 0x200000) return E.left(memoryError('unmapped', this.name, addr, 8, 'le64 value beyond 2^53'));
    return E.right(hi * TWO32 + r.view.getUint32(o, true));
  }
  writeU8(addr: number, v: number): E.Either<MemoryError, void> {
    const r = this.find(addr, 1);
    if (r === undefined) return E.left(memoryError('unmapped', this.name, addr, 1));
    r.bytes[addr - r.base] = v;
    this.noteWrite(addr, 1);
    return E.right(undefined);
  }
  writeU16(addr: number, v: number): E.Either<MemoryError, void> {
    const r = this.find(addr, 2);
    if (r === undefined) return E.left(memoryError('unmapped', this.name, addr, 2));
    r.view.setUint16(addr - r.base, v, true);
    this.noteWrite(addr, 2);
    return E.right(undefined);
  }
  writeU32(addr: number, v: number): E.Either<MemoryError, void> {
    const r = this.find(addr, 4);
    if (r === undefined) return E.left(memoryError('unmapped', this.name, addr, 4));
    r.view.setUint32(addr - r.base, v >>> 0, true);
    this.noteWrite(addr, 4);
    return E.right(undefined);
  }
  writeU64(addr: number, v: number): E.Either<MemoryError, void> {
    const r = this.find(addr, 8);
    if (r === undefined) return E.left(memoryError('unmapped', this.name, addr, 8));
    const o = addr - r.base;
    r.view.setUint32(o, v >>> 0, true);
    r.view.setUint32(o + 4, Math.floor(v / TWO32) >>> 0, true);
    this.noteWrite(addr, 8);
    return E.right(undefined);
  }

  /** Install (or clear) the write hook: the dirty-page log of migration listens here. */
  setWriteHook(hook: WriteHook | undefined): void {
    this.hook = hook;
  }

  /**
   * Report that [addr, addr+len) was written. Code that writes through a region's own view (the ring
   * layer's hot paths do) calls this so the dirty log sees every byte written by the device side.
   */
  noteWrite(addr: number, len: number): void {
    const h = this.hook;
    if (h !== undefined) h(addr, len);
  }
}

/**
 * Read a le64 at `o` of `view` as a number, or -1 when it is ≥ 2^53 (never a valid address here).
 * (Hot path: the 2^32 scale is a literal, not the module's TWO32, so V8 folds it.)
 */
export function getU64(view: DataView, o: number): number {
  const hi = view.getUint32(o + 4, true);
  if (hi >= 0x200000) return -1;
  return hi * 4294967296 + view.getUint32(o, true);
}

/**
 * Write a number in [0, 2^53) as a le64 at `o` of `view`, as two u32 halves (no BigInt on hot paths).
 * The high half is `v · 2^-32` truncated: multiplying by a power of two is exact, and much cheaper
 * than a division.
 */
export function setU64(view: DataView, o: number, v: number): void {
  view.setUint32(o, v >>> 0, true);
  view.setUint32(o + 4, (v * 2.3283064365386963e-10) >>> 0, true);
}
