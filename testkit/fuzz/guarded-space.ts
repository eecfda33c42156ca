/**
 * An address space for hostile-input tests: its regions are windows into one backing ArrayBuffer with
 * canary-filled guard bands before, between and after them, and unmapped holes between them in the
 * address space. Every lookup is counted, so a test can bound the work one ring operation does (each
 * descriptor a device visits is one `contains`/`find`), and every reported write is recorded.
 *
 * Nothing in the ring layer can reach a guard band through a region's DataView (the view ends where the
 * region does); code that goes around the views (`new Uint8Array(view.buffer, …)`) would, and the
 * canaries catch it.
 */
import { AddressSpace, type Region } from '../../src/memory/address-space.js';

/** Canary byte of the guard bands. */
export const CANARY = 0xa5;
export const GUARD = 4096;

export interface GuardedLayout {
  /** Address-space base and size of each region, in address order, with holes between them. */
  readonly regions: readonly { readonly base: number; readonly size: number; readonly name: string }[];
}

export class CountingSpace extends AddressSpace {
  /** Region lookups since the last `resetCount` (a ring operation's work). */
  finds = 0;
  /** Writes reported through `noteWrite` since the last `resetWrites`: flat [addr, len, addr, len …]. */
  readonly writes: number[] = [];

  override find(addr: number, len: number): Region | undefined {
    this.finds++;
    return super.find(addr, len);
  }

  override noteWrite(addr: number, len: number): void {
    this.writes.push(addr, len);
    super.noteWrite(addr, len);
  }

  resetCount(): void {
    this.finds = 0;
  }

  resetWrites(): void {
    this.writes.length = 0;
  }
}

export class GuardedMemory {
  readonly space: CountingSpace;
  readonly backing: ArrayBuffer;
  readonly bytes: Uint8Array;
  /** Offset of each region in `backing`. */
  private readonly offsets: number[] = [];

  constructor(readonly layout: GuardedLayout, name = 'gpa') {
    this.space = new CountingSpace(name);
    let total = GUARD;
    for (const r of layout.regions) {
      this.offsets.push(total);
      total += r.size + GUARD;
    }
    this.backing = new ArrayBuffer(total);
    this.bytes = new Uint8Array(this.backing);
    this.bytes.fill(CANARY);
    layout.regions.forEach((r, i) => {
      const off = this.offsets[i]!;
      this.bytes.fill(0, off, off + r.size);
      const added = this.space.addRegion(r.base, this.backing, { offset: off, size: r.size, name: r.name });
      if (added._tag === 'Left') throw new Error(`guarded memory layout: ${added.left.message}`);
    });
  }

  /** Index in `bytes` of address `addr` (which must be mapped). */
  indexOf(addr: number): number {
    const rs = this.layout.regions;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (addr >= r.base && addr < r.base + r.size) return this.offsets[i]! + (addr - r.base);
    }
    return -1;
  }

  /** First guard byte that lost its canary, or -1. */
  guardBreach(): number {
    const b = this.bytes;
    let g = 0;
    for (let i = 0; i <= this.layout.regions.length; i++) {
      const end = i < this.layout.regions.length ? this.offsets[i]! : b.length;
      for (let k = g; k < end; k++) if (b[k] !== CANARY) return k;
      if (i < this.layout.regions.length) g = this.offsets[i]! + this.layout.regions[i]!.size;
    }
    return -1;
  }

  /** A copy of [addr, addr+len) (mapped). */
  snapshot(addr: number, len: number): Uint8Array {
    const i = this.indexOf(addr);
    return this.bytes.slice(i, i + len);
  }

  /** First address in [addr, addr+len) that differs from `snap`, outside the `allowed` [addr, len) ranges; -1 if none. */
  changedOutside(addr: number, snap: Uint8Array, allowed: readonly (readonly [number, number])[]): number {
    const i0 = this.indexOf(addr);
    const b = this.bytes;
    for (let k = 0; k < snap.length; k++) {
      if (b[i0 + k] === snap[k]) continue;
      const a = addr + k;
      let ok = false;
      for (const [s, l] of allowed) if (a >= s && a < s + l) ok = true;
      if (!ok) return a;
    }
    return -1;
  }
}
