import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressSpace } from '../../src/memory/address-space.js';
import { DirtyLog } from '../../src/svq/dirty-log.js';

const PAGE = 4096;

function guest(): AddressSpace {
  const s = new AddressSpace('gpa');
  s.addRegion(0, 64 * PAGE, { name: 'low' });
  s.addRegion(0x100000 + 0x800, 40 * PAGE, { name: 'high' }); // not page aligned on purpose
  return s;
}

function snapshot(s: AddressSpace): Uint8Array[] {
  return s.regions().map((r) => r.bytes.slice());
}

/** Pages (guest addresses) whose bytes differ between two snapshots. */
function changedPages(s: AddressSpace, before: Uint8Array[], after: Uint8Array[]): number[] {
  const pages = new Set<number>();
  s.regions().forEach((r, i) => {
    const a = before[i]!;
    const b = after[i]!;
    for (let o = 0; o < r.size; o++) if (a[o] !== b[o]) pages.add(Math.floor((r.base + o) / PAGE) * PAGE);
  });
  return [...pages].sort((x, y) => x - y);
}

describe('DirtyLog', () => {
  it('marks page ranges across word and region boundaries, counts them, and clears per round', () => {
    const s = guest();
    const log = DirtyLog.forSpace(s);
    log.mark(31 * PAGE + 10, PAGE + 40 * PAGE); // pages 31..72 of "low" clipped at 64 pages, then a gap
    expect(log.dirtyCount()).toBe(64 - 31);
    expect(log.stats.unlogged).toBe(41 * PAGE + 10 - 33 * PAGE);
    log.mark(0x100000 + 0x800, 1); // first byte of "high": its page starts at 0x100000
    expect(log.isDirty(0x100000)).toBe(true);
    expect(log.dirtyCount()).toBe(34);
    log.mark(31 * PAGE, 1); // already dirty: no new page
    expect(log.stats.pagesDirtied).toBe(34);
    const round = log.collect();
    expect(round.length).toBe(34);
    expect(round[0]).toBe(31 * PAGE);
    expect(round[round.length - 1]).toBe(0x100000);
    expect(log.dirtyCount()).toBe(0);
    expect(log.collect()).toEqual([]);
    expect(log.stats.rounds).toBe(2);
  });

  const writeArb = fc.record({
    via: fc.constantFrom('u8', 'u16', 'u32', 'u64', 'bytes', 'alias'),
    region: fc.nat(1),
    off: fc.nat(),
    len: fc.integer({ min: 1, max: 3 * PAGE }),
    seed: fc.integer({ min: 1, max: 255 }),
  });

  it('after any run, the bitmap holds exactly the pages that changed (per round)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(writeArb, { maxLength: 25 }), { minLength: 1, maxLength: 4 }), (rounds) => {
        const s = guest();
        const log = DirtyLog.forSpace(s);
        log.attach(s);
        for (const writes of rounds) {
          const before = snapshot(s);
          for (const w of writes) {
            const r = s.regions()[w.region]!;
            const size = w.via === 'u8' ? 1 : w.via === 'u16' ? 2 : w.via === 'u32' ? 4 : w.via === 'u64' ? 8 : Math.min(w.len, r.size);
            const o = w.off % (r.size - size + 1);
            const addr = r.base + o;
            // every write changes every byte it touches (xor with a non-zero seed), so written == changed
            const cur = r.bytes.subarray(o, o + size);
            const next = cur.map((b) => b ^ w.seed);
            // a le64 at or above 2^53 is not a number we can write exactly: write those bytes as bytes
            const bigU64 = w.via === 'u64' && next[7]! * 256 + next[6]! >= 0x20;
            if (w.via === 'bytes' || bigU64) s.write(addr, next);
            else if (w.via === 'alias') {
              // a device writing through its IOVA alias: the bytes change behind the space; SVQ marks them
              r.bytes.set(next, o);
              log.mark(addr, size);
            } else {
              let v = 0;
              for (let i = size - 1; i >= 0; i--) v = v * 256 + next[i]!;
              if (w.via === 'u8') s.writeU8(addr, v);
              else if (w.via === 'u16') s.writeU16(addr, v);
              else if (w.via === 'u32') s.writeU32(addr, v);
              else s.writeU64(addr, v);
            }
          }
          const changed = changedPages(s, before, snapshot(s));
          const count = log.dirtyCount();
          const dirty = log.collect();
          // the running count agrees with the bitmap (mark's one-page fast path and the general path alike)
          expect(count).toBe(dirty.length);
          // changed ⊆ dirty; dirty ⊆ changed except pages whose bytes a second write in the round restored
          for (const p of changed) expect(dirty).toContain(p);
          const restored = dirty.filter((p) => !changed.includes(p));
          for (const p of restored) {
            // a restored page must have been written at least twice in this round
            const n = writes.filter((w) => {
              const r = s.regions()[w.region]!;
              const size = w.via === 'u8' ? 1 : w.via === 'u16' ? 2 : w.via === 'u32' ? 4 : w.via === 'u64' ? 8 : Math.min(w.len, r.size);
              const a = r.base + (w.off % (r.size - size + 1));
              return a < p + PAGE && p < a + size;
            }).length;
            expect(n).toBeGreaterThanOrEqual(2);
          }
          expect(log.dirtyCount()).toBe(0);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('marks exactly the written pages when every write lands on distinct bytes', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(64 * PAGE - 1), { maxLength: 80 }), (addrs) => {
        const s = guest();
        const log = DirtyLog.forSpace(s);
        log.attach(s);
        const before = snapshot(s);
        for (const a of addrs) s.writeU8(a, 0xa5);
        expect(log.collect()).toEqual(changedPages(s, before, snapshot(s)));
      }),
      { numRuns: 60 },
    );
  });
});
