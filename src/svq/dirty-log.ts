/**
 * The dirty-page log of migration: one bit per 4 KiB guest page, one bitmap per guest memory region (as
 * QEMU keeps one per RAMBlock), in Uint32Array words. Everything SVQ writes into guest memory marks its
 * pages: used-ring entries (through the address space's write hook, which the ring layer fires on every
 * write it makes) and the device-written part of in-buffers (SVQ calls `mark` up to the used length).
 *
 * `mark` is allocation-free and O(words touched). Migration reads and clears the log once per round
 * (`collect`), as `VHOST_SET_LOG_BASE` users and KVM's dirty log do.
 */
import { PAGE_SIZE as PAGE_BYTES, type AddressSpace } from '../memory/address-space.js';

/** A module-local copy (an imported binding is a cell load and a TDZ check per use in optimized code; `mark` is hot). */
const PAGE_SIZE = PAGE_BYTES;

export const DIRTY_PAGE_SHIFT = 12;
const PAGE_BITS = 32;

/** Number of set bits in a u32. */
function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

interface Block {
  readonly base: number;
  readonly end: number;
  /** Page number (addr >> 12) of the block's first page. */
  readonly firstPage: number;
  readonly pages: number;
  readonly words: Uint32Array;
}

export interface DirtyLogStats {
  /** Calls to `mark` with a non-empty range. */
  marks: number;
  /** Bytes marked inside guest memory. */
  bytes: number;
  /** Bytes reported outside every region (nothing to log; counted, never silently dropped). */
  unlogged: number;
  /** Pages turned from clean to dirty since creation. */
  pagesDirtied: number;
  /** Completed read-and-clear rounds. */
  rounds: number;
}

export class DirtyLog {
  private readonly blocks: Block[];
  private lastBlock: Block | undefined;
  private dirty = 0;
  readonly stats: DirtyLogStats = { marks: 0, bytes: 0, unlogged: 0, pagesDirtied: 0, rounds: 0 };
  /** The bound hook handed to `AddressSpace.setWriteHook` (one closure for the log's life). */
  readonly hook: (addr: number, len: number) => void;

  constructor(regions: readonly { readonly base: number; readonly size: number }[]) {
    this.blocks = regions
      .map((r) => {
        const firstPage = Math.floor(r.base / PAGE_SIZE);
        const pages = Math.floor((r.base + r.size - 1) / PAGE_SIZE) - firstPage + 1;
        return { base: r.base, end: r.base + r.size, firstPage, pages, words: new Uint32Array(Math.ceil(pages / PAGE_BITS)) };
      })
      .sort((a, b) => a.base - b.base);
    this.hook = (addr, len) => this.mark(addr, len);
  }

  /** A log over every region of `space` (guest-physical memory). */
  static forSpace(space: AddressSpace): DirtyLog {
    return new DirtyLog(space.regions());
  }

  /** Log every write `space` reports (used rings written by the ring layer, `AddressSpace.write*`). */
  attach(space: AddressSpace): void {
    space.setWriteHook(this.hook);
  }

  detach(space: AddressSpace): void {
    space.setWriteHook(undefined);
  }

  private blockOf(addr: number): Block | undefined {
    const l = this.lastBlock;
    if (l !== undefined && addr >= l.base && addr < l.end) return l;
    const bs = this.blocks;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i]!;
      if (addr >= b.base && addr < b.end) {
        this.lastBlock = b;
        return b;
      }
    }
    return undefined;
  }

  /** Mark the pages of [addr, addr+len) dirty. Allocation-free. */
  mark(addr: number, len: number): void {
    if (len <= 0) return;
    const stats = this.stats;
    // Fast path: inside the last block and one page (a used-ring entry, a packet): one bit test
    const l = this.lastBlock;
    if (l !== undefined && addr >= l.base && addr + len <= l.end) {
      const p = Math.floor(addr / PAGE_SIZE) - l.firstPage;
      if (p === Math.floor((addr + len - 1) / PAGE_SIZE) - l.firstPage) {
        stats.marks++;
        stats.bytes += len;
        const w = l.words;
        const bit = 1 << (p & 31);
        const old = w[p >>> 5]!;
        if ((old & bit) === 0) {
          w[p >>> 5] = old | bit;
          this.dirty++;
          stats.pagesDirtied++;
        }
        return;
      }
    }
    stats.marks++;
    let cur = addr;
    const end = addr + len;
    while (cur < end) {
      const b = this.blockOf(cur);
      if (b === undefined) {
        // skip to the next block start (or the end) and count the gap
        let next = end;
        for (let i = 0; i < this.blocks.length; i++) {
          const s = this.blocks[i]!.base;
          if (s > cur && s < next) next = s;
        }
        this.stats.unlogged += next - cur;
        cur = next;
        continue;
      }
      const stop = end < b.end ? end : b.end;
      this.stats.bytes += stop - cur;
      this.setPages(b, Math.floor(cur / PAGE_SIZE) - b.firstPage, Math.floor((stop - 1) / PAGE_SIZE) - b.firstPage);
      cur = stop;
    }
  }

  /** Set bits p0..p1 (inclusive, block-relative), counting the pages that were clean. */
  private setPages(b: Block, p0: number, p1: number): void {
    const w = b.words;
    let newly = 0;
    let wi = p0 >>> 5;
    const wLast = p1 >>> 5;
    for (; wi <= wLast; wi++) {
      const lo = wi === p0 >>> 5 ? p0 & 31 : 0;
      const hi = wi === wLast ? p1 & 31 : 31;
      const mask = hi === 31 ? (0xffffffff << lo) >>> 0 : (((1 << (hi + 1)) - 1) & (0xffffffff << lo)) >>> 0;
      const old = w[wi]!;
      const add = mask & ~old;
      if (add !== 0) {
        newly += popcount32(add >>> 0);
        w[wi] = old | add;
      }
    }
    this.dirty += newly;
    this.stats.pagesDirtied += newly;
  }

  /** Whether the page holding `addr` is dirty (a page is shared by blocks that are not page-aligned). */
  isDirty(addr: number): boolean {
    const page = Math.floor(addr / PAGE_SIZE);
    for (const b of this.blocks) {
      const p = page - b.firstPage;
      if (p >= 0 && p < b.pages && ((b.words[p >>> 5]! >>> (p & 31)) & 1) === 1) return true;
    }
    return false;
  }

  /** Dirty pages now (not yet collected). */
  dirtyCount(): number {
    return this.dirty;
  }

  /** Call `fn` with the guest address of every dirty page, in address order, without clearing. */
  forEachDirty(fn: (pageAddr: number) => void): void {
    for (const b of this.blocks) {
      const w = b.words;
      for (let wi = 0; wi < w.length; wi++) {
        let x = w[wi]!;
        while (x !== 0) {
          const bit = 31 - Math.clz32(x & -x);
          fn((b.firstPage + wi * 32 + bit) * PAGE_SIZE);
          x = (x & (x - 1)) >>> 0;
        }
      }
    }
  }

  /** Read and clear: the page addresses dirtied since the previous round (one migration round). */
  collect(): number[] {
    const out: number[] = [];
    this.forEachDirty((p) => out.push(p));
    for (const b of this.blocks) b.words.fill(0);
    this.dirty = 0;
    this.stats.rounds++;
    return out;
  }
}
