/** Shared set-up for ring tests: one guest address space with a ring region and a buffer region. */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace } from '../../src/memory/address-space.js';
import { isRingError, placeRing, ringFactory, type RingConfig, type RingDevice, type RingDriver, type RingLayout } from '../../src/ring/index.js';

export const RING_BASE = 0x10000;
export const IND_BASE = 0x200000;
export const BUF_BASE = 0x1000000;
export const BUF_SIZE = 0x100000;

export interface Rig {
  space: AddressSpace;
  config: RingConfig;
  driver: RingDriver;
  device: RingDevice;
}

export function rig(layout: RingLayout, size: number, opts: { eventIdx?: boolean; indirect?: boolean; indCap?: number } = {}): Rig {
  const space = new AddressSpace('gpa');
  const ringBytes = placeRing(layout, size, RING_BASE).end - RING_BASE;
  unwrap(space.addRegion(RING_BASE, Math.ceil(ringBytes / 4096) * 4096, { name: 'ring' }));
  const indSize = size * 16 * (opts.indCap ?? 8);
  unwrap(space.addRegion(IND_BASE, indSize, { name: 'indirect' }));
  unwrap(space.addRegion(BUF_BASE, BUF_SIZE, { name: 'buffers' }));
  const config: RingConfig = {
    layout,
    size,
    addrs: placeRing(layout, size, RING_BASE).addrs,
    eventIdx: opts.eventIdx ?? false,
    indirect: opts.indirect ?? false,
  };
  const f = ringFactory(layout);
  const driver = f.driver(space, config, { indirectArea: { addr: IND_BASE, size: indSize } });
  const device = f.device(space, config);
  if (isRingError(driver)) throw new Error(driver.message);
  if (isRingError(device)) throw new Error(device.message);
  return { space, config, driver, device };
}

export function unwrap<A>(e: E.Either<unknown, A>): A {
  if (E.isLeft(e)) throw new Error(`unexpected Left: ${JSON.stringify(e.left)}`);
  return e.right;
}

/** Bytes of [addr, addr+len) as hex pairs, for byte-level assertions. */
export function hex(space: AddressSpace, addr: number, len: number): string {
  const b = unwrap(space.read(addr, len));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Write one 16-byte split descriptor { le64 addr; le32 len; le16 flags; le16 next } by hand (§2.7.5). */
export function splitDesc(space: AddressSpace, table: number, i: number, addr: number, len: number, flags: number, next = 0): void {
  const o = table + i * 16;
  unwrap(space.writeU64(o, addr));
  unwrap(space.writeU32(o + 8, len));
  unwrap(space.writeU16(o + 12, flags));
  unwrap(space.writeU16(o + 14, next));
}

/** Put `head` in avail->ring[idx % num] and publish idx + 1 (§2.7.6). */
export function splitPublish(space: AddressSpace, r: Rig, head: number): void {
  const avail = r.config.addrs.driver;
  const idx = unwrap(space.readU16(avail + 2));
  unwrap(space.writeU16(avail + 4 + (idx % r.config.size) * 2, head));
  unwrap(space.writeU16(avail + 2, (idx + 1) & 0xffff));
}

/** Write one 16-byte packed descriptor { le64 addr; le32 len; le16 id; le16 flags } by hand (§2.8.13). */
export function packedDesc(space: AddressSpace, table: number, i: number, addr: number, len: number, id: number, flags: number): void {
  const o = table + i * 16;
  unwrap(space.writeU64(o, addr));
  unwrap(space.writeU32(o + 8, len));
  unwrap(space.writeU16(o + 12, id));
  unwrap(space.writeU16(o + 14, flags));
}
