import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { AddressSpace, getU64, setU64 } from '../../src/memory/address-space.js';

describe('AddressSpace', () => {
  it('reads and writes little-endian values inside a region', () => {
    const s = new AddressSpace('gpa');
    expect(E.isRight(s.addRegion(0x10000, 0x1000))).toBe(true);
    expect(E.isRight(s.writeU32(0x10004, 0x11223344))).toBe(true);
    const bytes = s.read(0x10004, 4);
    expect(bytes).toEqual(E.right(new Uint8Array([0x44, 0x33, 0x22, 0x11])));
    expect(s.writeU64(0x10010, 2 ** 40 + 5)).toEqual(E.right(undefined));
    expect(s.readU64(0x10010)).toEqual(E.right(2 ** 40 + 5));
    expect(s.readU16(0x10004)).toEqual(E.right(0x3344));
  });

  it('refuses accesses that leave a region, naming the address, and writes nothing', () => {
    const s = new AddressSpace('gpa');
    s.addRegion(0x10000, 0x1000);
    const r = s.writeU32(0x10ffe, 0xffffffff);
    expect(E.isLeft(r) && r.left.kind === 'unmapped' && r.left.addr === 0x10ffe).toBe(true);
    expect(s.readU16(0x10ffe)).toEqual(E.right(0));
    expect(E.isLeft(s.readU8(0xffff))).toBe(true);
    expect(E.isLeft(s.read(0x10000, 0x1001))).toBe(true);
  });

  it('refuses overlapping regions and finds the right one among several', () => {
    const s = new AddressSpace('hva');
    s.addRegion(0x1000, 0x1000, { name: 'a' });
    s.addRegion(0x3000, 0x1000, { name: 'b' });
    const o = s.addRegion(0x1800, 0x1000);
    expect(E.isLeft(o) && o.left.kind === 'overlap').toBe(true);
    expect(s.find(0x3ff0, 16)?.name).toBe('b');
    expect(s.find(0x1ff0, 32)).toBeUndefined();
  });

  it('finds nothing for a negative or NaN length or address, even in the region it found last', () => {
    const s = new AddressSpace('gpa');
    s.addRegion(0x1000, 0x1000);
    expect(s.find(0x1800, 8)?.base).toBe(0x1000);
    expect(s.find(0x1800, -8)).toBeUndefined();
    expect(s.find(0x1800, Number.NaN)).toBeUndefined();
    expect(s.find(Number.NaN, 8)).toBeUndefined();
    expect(E.isLeft(s.slice(0x1800, -1))).toBe(true);
  });

  it('reports writes to the hook (dirty log)', () => {
    const s = new AddressSpace('gpa');
    s.addRegion(0, 0x4000);
    const seen: Array<[number, number]> = [];
    s.setWriteHook((a, l) => seen.push([a, l]));
    s.writeU16(0x2000, 1);
    s.write(0x3000, new Uint8Array(8));
    expect(seen).toEqual([[0x2000, 2], [0x3000, 8]]);
  });

  it('round-trips 53-bit numbers as two u32 halves and rejects larger le64 values', () => {
    const v = new DataView(new ArrayBuffer(16));
    setU64(v, 0, 2 ** 53 - 1);
    expect(getU64(v, 0)).toBe(2 ** 53 - 1);
    v.setUint32(12, 0x00200000, true);
    expect(getU64(v, 8)).toBe(-1);
  });
});

describe('le64 as two u32 halves', () => {
  it('setU64 / getU64 round-trip every 53-bit value and match the bytes of a BigInt write', () => {
    const v = new DataView(new ArrayBuffer(16));
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), (b) => {
        const n = Number(b);
        setU64(v, 0, n);
        v.setBigUint64(8, b, true);
        expect(v.getUint32(0, true)).toBe(v.getUint32(8, true));
        expect(v.getUint32(4, true)).toBe(v.getUint32(12, true));
        expect(getU64(v, 0)).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });
});
