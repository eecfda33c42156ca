import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaTree, isIovaTreeError, type DMAMap, type MapKind } from '../../src/svq/iova-tree.js';
import { VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO } from '../../src/device/types.js';

const PAGE = 4096;

describe('IovaTree', () => {
  it('allocates first fit from page 1, keeps the page offset, and fills holes left by removes', () => {
    const t = new IovaTree({ first: 0, last: 0xffff });
    const a = t.mapAlloc('hva', { translatedAddr: 0x7f0000000000, size: PAGE - 1, perm: VHOST_ACCESS_RW });
    const b = t.mapAlloc('hva', { translatedAddr: 0x7f0000010000, size: 2 * PAGE - 1, perm: VHOST_ACCESS_RO });
    expect(a).toMatchObject({ iova: PAGE, size: PAGE - 1 });
    expect(b).toMatchObject({ iova: 2 * PAGE });
    const c = t.mapAlloc('gpa', { translatedAddr: 0x123, size: 0x10, perm: VHOST_ACCESS_WO });
    expect(c).toMatchObject({ iova: 4 * PAGE + 0x123 });
    expect(t.remove(PAGE)).toMatchObject({ translatedAddr: 0x7f0000000000 });
    const d = t.mapAlloc('gpa', { translatedAddr: 0x10000, size: PAGE - 1, perm: VHOST_ACCESS_RW });
    expect(d).toMatchObject({ iova: PAGE });
  });

  it('gives typed errors: no space, overlap, out of range, invalid, not found', () => {
    const t = new IovaTree({ first: 0x1000, last: 0x2fff });
    expect(t.mapAlloc('hva', { translatedAddr: 0, size: 0x2000, perm: VHOST_ACCESS_RW })).toMatchObject({ kind: 'no-space' });
    expect(t.mapAlloc('hva', { translatedAddr: 0, size: 0x1fff, perm: VHOST_ACCESS_RW })).toMatchObject({ iova: 0x1000 });
    expect(t.mapAlloc('hva', { translatedAddr: 0x1000, size: 0, perm: VHOST_ACCESS_RW })).toMatchObject({ kind: 'overlap' });
    expect(t.mapAlloc('gpa', { translatedAddr: 0x1000, size: 0, perm: VHOST_ACCESS_RW })).toMatchObject({ kind: 'no-space' });
    expect(t.insert('gpa', 0x3000, { translatedAddr: 0, size: 0, perm: VHOST_ACCESS_RW })).toMatchObject({ kind: 'out-of-range' });
    expect(t.insert('gpa', 0x1800, { translatedAddr: 0, size: 0, perm: VHOST_ACCESS_RW })).toMatchObject({ kind: 'overlap' });
    expect(t.mapAlloc('hva', { translatedAddr: 2 ** 53, size: 1, perm: VHOST_ACCESS_RW })).toMatchObject({ kind: 'invalid' });
    expect(t.mapAlloc('hva', { translatedAddr: 0x9000, size: 1, perm: 0 })).toMatchObject({ kind: 'invalid' });
    expect(t.remove(0x1800)).toMatchObject({ kind: 'not-found' });
  });

  it('splits a buffer that crosses mappings, merges IOVA-contiguous ones, and never truncates', () => {
    const t = new IovaTree({ first: 0, last: 2 ** 40 });
    // GPA [0x10000, 0x12000) and [0x12000, 0x13000) land in two IOVA ranges; [0x13000, …) unmapped.
    t.insert('gpa', 0x100000, { translatedAddr: 0x10000, size: 0x1fff, perm: VHOST_ACCESS_RW });
    t.insert('gpa', 0x200000, { translatedAddr: 0x12000, size: 0xfff, perm: VHOST_ACCESS_RO });
    t.insert('gpa', 0x201000, { translatedAddr: 0x14000, size: 0xfff, perm: VHOST_ACCESS_RW });
    const addr = new Float64Array(4);
    const len = new Uint32Array(4);
    expect(t.translate('gpa', 0x11f00, 0x200, false, addr, len, 0, 4)).toBe(2);
    expect([addr[0], len[0], addr[1], len[1]]).toEqual([0x101f00, 0x100, 0x200000, 0x100]);
    // the RO map refuses a device-writable buffer
    expect(t.translate('gpa', 0x11f00, 0x200, true, addr, len, 0, 4)).toMatchObject({ kind: 'permission', addr: 0x12000 });
    // a hole is an error naming the first unmapped byte, not a short buffer
    expect(t.translate('gpa', 0x12f00, 0x200, false, addr, len, 0, 4)).toMatchObject({ kind: 'unmapped', addr: 0x13000 });
    // no room for the second segment
    expect(t.translate('gpa', 0x11f00, 0x200, false, addr, len, 3, 4)).toMatchObject({ kind: 'too-many-segments' });
    // hva lookups never see gpa maps
    expect(t.translate('hva', 0x10000, 1, false, addr, len, 0, 4)).toMatchObject({ kind: 'unmapped' });
  });

  // ---- property test against a naive list model ----
  type Op =
    | { op: 'alloc'; kind: MapKind; taddr: number; size: number; perm: number }
    | { op: 'insert'; kind: MapKind; iova: number; taddr: number; size: number; perm: number }
    | { op: 'remove'; pick: number }
    | { op: 'translate'; kind: MapKind; addr: number; len: number; writable: boolean };

  const FIRST = 0;
  const LAST = 0x3ffff;
  const kindArb = fc.constantFrom<MapKind>('hva', 'gpa');
  const permArb = fc.constantFrom(VHOST_ACCESS_RO, VHOST_ACCESS_WO, VHOST_ACCESS_RW);
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('alloc' as const), kind: kindArb, taddr: fc.integer({ min: 0, max: 0x20000 }), size: fc.integer({ min: 0, max: 0x6000 }), perm: permArb }),
    fc.record({ op: fc.constant('insert' as const), kind: kindArb, iova: fc.integer({ min: 0, max: 0x40000 }), taddr: fc.integer({ min: 0, max: 0x20000 }), size: fc.integer({ min: 0, max: 0x6000 }), perm: permArb }),
    fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('translate' as const), kind: kindArb, addr: fc.integer({ min: 0, max: 0x26000 }), len: fc.integer({ min: 0, max: 0x3000 }), writable: fc.boolean() }),
  );

  const hits = (a0: number, a1: number, b0: number, b1: number): boolean => a0 <= b1 && b0 <= a1;
  const alignUp = (x: number, off: number): number => {
    const b = Math.floor(x / PAGE) * PAGE + off;
    return b >= x ? b : b + PAGE;
  };

  it('matches a naive list model (alloc, insert, remove, translate)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const t = new IovaTree({ first: FIRST, last: LAST });
        const model: DMAMap[] = [];
        const first = Math.max(FIRST, PAGE);
        for (const o of ops) {
          if (o.op === 'alloc' || o.op === 'insert') {
            const req = { translatedAddr: o.taddr, size: o.size, perm: o.perm };
            const got = o.op === 'alloc' ? t.mapAlloc(o.kind, req) : t.insert(o.kind, o.iova, req);
            const taddrClash = model.some((m) => m.kind === o.kind && hits(m.translatedAddr, m.translatedAddr + m.size, o.taddr, o.taddr + o.size));
            const free = (iova: number): boolean => iova >= first && iova + o.size <= LAST && !model.some((m) => hits(m.iova, m.iova + m.size, iova, iova + o.size));
            let expectIova: number | undefined;
            let expectKind: string | undefined;
            if (o.op === 'alloc') {
              if (taddrClash) expectKind = 'overlap';
              else {
                // first fit: the lowest aligned candidate at the start of the range or right after a map
                const cands = [first, ...model.map((m) => m.iova + m.size + 1)].map((c) => alignUp(c, o.taddr % PAGE)).sort((a, b) => a - b);
                expectIova = cands.find(free);
                if (expectIova === undefined) expectKind = 'no-space';
              }
            } else if (o.iova < first || o.iova + o.size > LAST) expectKind = 'out-of-range';
            else if (!free(o.iova) || taddrClash) expectKind = 'overlap';
            else expectIova = o.iova;
            if (expectKind !== undefined) {
              expect(isIovaTreeError(got) && got.kind).toBe(expectKind);
            } else {
              expect(got).toEqual({ iova: expectIova, translatedAddr: o.taddr, size: o.size, perm: o.perm, kind: o.kind });
              model.push(got as DMAMap);
            }
          } else if (o.op === 'remove') {
            if (model.length === 0) continue;
            const m = model.splice(o.pick % model.length, 1)[0]!;
            expect(t.remove(m.iova)).toEqual(m);
            expect(t.lookupIova(m.iova)).toBeUndefined();
          } else {
            const cap = 8;
            const addr = new Float64Array(cap);
            const len = new Uint32Array(cap);
            const got = t.translate(o.kind, o.addr, o.len, o.writable, addr, len, 0, cap);
            // model: byte by byte (len 0 still needs its first byte mapped)
            const segs: [number, number][] = [];
            let err: { kind: string; addr: number } | undefined;
            for (let i = 0; i < Math.max(o.len, 1); i++) {
              const a = o.addr + i;
              const m = model.find((x) => x.kind === o.kind && a >= x.translatedAddr && a <= x.translatedAddr + x.size);
              if (m === undefined) {
                err = { kind: 'unmapped', addr: a };
                break;
              }
              if ((m.perm & (o.writable ? VHOST_ACCESS_WO : VHOST_ACCESS_RO)) === 0) {
                err = { kind: 'permission', addr: a };
                break;
              }
              const iova = m.iova + (a - m.translatedAddr);
              const n = o.len === 0 ? 0 : 1;
              const last = segs[segs.length - 1];
              if (last !== undefined && last[0] + last[1] === iova) last[1] += n;
              else segs.push([iova, n]);
            }
            if (err === undefined && segs.length > cap) err = { kind: 'too-many-segments', addr: o.addr };
            if (err !== undefined) {
              expect(got).toMatchObject(err);
            } else {
              expect(got).toBe(segs.length);
              const out = segs.map((_, i) => [addr[i], len[i]]);
              expect(out).toEqual(segs);
              expect(segs.reduce((s, x) => s + x[1], 0)).toBe(o.len);
            }
          }
          // the three maps agree with the model after every step
          expect(t.maps()).toEqual([...model].sort((a, b) => a.iova - b.iova));
          for (const m of model) {
            expect(t.lookup(m.kind, m.translatedAddr + m.size)).toBe(m);
            expect(t.lookupIova(m.iova)).toBe(m);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
