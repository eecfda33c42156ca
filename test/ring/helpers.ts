/** Shared set-up for ring tests: one guest address space with a ring region and a buffer region. */
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import { AddressSpace } from '../../src/memory/address-space.js';
import { isRingError, placeRing, ringFactory, type Chain, type RingConfig, type RingDevice, type RingDriver, type RingLayout } from '../../src/ring/index.js';

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

/** What the driver made available under one token. */
export interface Sent {
  addr: number[];
  len: number[];
  outCount: number;
  inBytes: number;
}

/**
 * The reference model of random-traffic ring tests: which token went out under which head / buffer id
 * and with which segments, which popped chains await a push, what length the device wrote, and which
 * tokens came back. Every method asserts the driver/device agreement it can see.
 */
export class RingLedger {
  /** token → what the driver added */
  readonly sent = new Map<number, Sent>();
  /** head / buffer id → token, as the driver handed it out */
  readonly byId = new Map<number, number>();
  /** popped, not yet pushed */
  readonly pending: Array<{ id: number; ringDescs: number; token: number; inBytes: number }> = [];
  /** token → len the device wrote */
  readonly pushedLen = new Map<number, number>();
  readonly reaped = new Set<number>();
  nextToken = 1;
  private addr = BUF_BASE;

  /** The next buffer address: 4 KiB steps through the first 512 KiB of the buffer region. */
  nextAddr(): number {
    const a = this.addr;
    this.addr = BUF_BASE + ((this.addr - BUF_BASE + 4096) % 0x80000);
    return a;
  }

  /** The driver made `s` available as `id` under `token`: the id must not be in flight already. */
  record(id: number, token: number, s: Sent): void {
    expect(this.byId.has(id)).toBe(false);
    this.byId.set(id, token);
    this.sent.set(token, s);
  }

  /** `record` of a whole chain the driver just added. */
  recordChain(id: number, token: number, c: Chain): void {
    this.record(id, token, { addr: Array.from(c.addr.subarray(0, c.count)), len: Array.from(c.len.subarray(0, c.count)), outCount: c.outCount, inBytes: c.inBytes });
  }

  /** The device popped `c`: exactly the segments the driver added under its id; it now awaits a push. */
  seen(c: Chain): void {
    const token = this.byId.get(c.id);
    expect(token).toBeDefined();
    const s = this.sent.get(token!)!;
    expect(Array.from(c.addr.subarray(0, c.count))).toEqual(s.addr);
    expect(Array.from(c.len.subarray(0, c.count))).toEqual(s.len);
    expect(c.outCount).toBe(s.outCount);
    expect(c.inBytes).toBe(s.inBytes);
    this.pending.push({ id: c.id, ringDescs: c.ringDescs, token: token!, inBytes: c.inBytes });
  }

  /** Take the pending chain at `pick` (mod the count) to push with `frac` of its writable bytes. */
  takePending(pick: number, frac: number): { id: number; ringDescs: number; len: number } {
    const p = this.pending.splice(pick % this.pending.length, 1)[0]!;
    const len = Math.floor(p.inBytes * frac);
    this.pushedLen.set(p.token, len);
    return { id: p.id, ringDescs: p.ringDescs, len };
  }

  /** The driver reaped (id, len, token): the id it handed out, once, with the length the device wrote. */
  gotUsed(id: number, len: number, token: number): void {
    expect(this.byId.get(id)).toBe(token);
    this.byId.delete(id);
    expect(this.reaped.has(token)).toBe(false);
    this.reaped.add(token);
    expect(len).toBe(this.pushedLen.get(token));
  }
}
