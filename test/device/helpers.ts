/**
 * A small vhost-vdpa driver for the device tests: negotiates, maps host memory through the IOTLB, lays
 * out rings with the ring layer's *driver* side over the device's IOVA view, and talks to the CVQ and
 * the data queues exactly as the SVQ / CVQ engines will.
 */
import { expect } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { placeRing, ringFactory } from '../../src/ring/index.js';
import { Chain, Used, isRingError, type RingDriver, type RingError, type RingLayout } from '../../src/ring/types.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../../src/device/sim/device.js';
import { VHOST_ACCESS_RW } from '../../src/device/types.js';
import type { AddressSpace } from '../../src/memory/address-space.js';
import { F, checkFeatureDependencies, hasFeature, type FeatureName } from '../../src/virtio/features.js';
import { VIRTIO_CONFIG_S as S } from '../../src/virtio/status.js';

export { S };

export function right<T>(e: E.Either<unknown, T>): T {
  if (E.isLeft(e)) throw new Error(`expected Right, got ${JSON.stringify(e.left, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  return e.right;
}

export function left<L>(e: E.Either<L, unknown>): L {
  if (E.isRight(e)) throw new Error('expected Left');
  return e.left;
}

/** Drop features until every dependency of virtio 1.2 §5.1.3.1 holds. */
export function consistent(f: bigint): bigint {
  let x = f | F.VERSION_1 | F.ACCESS_PLATFORM;
  for (;;) {
    const r = checkFeatureDependencies(x);
    if (E.isRight(r)) return x;
    x &= ~F[r.left.feature as FeatureName];
  }
}

export interface DriverQueue {
  readonly qi: number;
  readonly driver: RingDriver;
}

export interface Harness {
  readonly dev: SimVdpaDevice;
  readonly features: bigint;
  readonly layout: RingLayout;
  /** The IOVA view the driver writes through (ASID 0, and ASID 1 when the CVQ has its own). */
  readonly space: AddressSpace;
  readonly cvqSpace: AddressSpace;
  readonly queues: Map<number, DriverQueue>;
  /** Bump allocator for buffers in IOVA space (per ASID). */
  alloc(size: number, asid?: number): number;
  cvq: number;
  /** The CVQ group's ASID at bring-up (buffers are allocated there). */
  cvqAsid: number;
}

export interface BringUpOptions {
  readonly device?: SimDeviceOptions;
  readonly features?: bigint;
  readonly layout?: RingLayout;
  readonly size?: number;
  /** Queue indexes to set up; default: pair 0 + the CVQ when CTRL_VQ is negotiated. */
  readonly queues?: number[];
  /** Put the CVQ group in ASID 1 with its own mapping (as QEMU's SVQ with a CVQ-only shadow). */
  readonly cvqAsid1?: boolean;
  readonly backendFeatures?: bigint;
  /** Give each driver an indirect-table area (used when `add(…, true)`). */
  readonly indirectArea?: boolean;
  /** Queues configured before DRIVER_OK but left disabled (QEMU enables the data queues after it). */
  readonly enableLater?: number[];
  /** Bring up this (reset) device again instead of a new one. */
  readonly dev?: SimVdpaDevice;
}

const IOVA0 = 0x10_0000;
const IOVA1 = 0x8000_0000;
const MEM = 1 << 20;

/** Owner, features, IOTLB, rings, DRIVER_OK: a device ready to be kicked. */
export function bringUp(o: BringUpOptions = {}): Harness {
  const dev = o.dev ?? new SimVdpaDevice(o.device ?? {});
  if (o.dev === undefined) right(dev.setOwner());
  else {
    right(dev.setStatus(0));
    right(dev.iotlbInvalidate(0, IOVA0, MEM));
  }
  const offered = right(dev.getFeatures());
  let features = o.features ?? offered;
  const layout: RingLayout = o.layout ?? (hasFeature(features, 'RING_PACKED') ? 'packed' : 'split');
  if (layout === 'packed') features |= F.RING_PACKED;
  else features &= ~F.RING_PACKED;
  right(dev.setBackendFeatures(o.backendFeatures ?? right(dev.getBackendFeatures())));
  right(dev.setStatus(S.ACKNOWLEDGE));
  right(dev.setStatus(S.ACKNOWLEDGE | S.DRIVER));
  right(dev.setFeatures(features));
  right(dev.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK));
  expect(right(dev.getStatus()) & S.FEATURES_OK).toBe(S.FEATURES_OK);
  const mem0 = right(dev.allocHost(MEM, 'asid0'));
  right(dev.iotlbUpdate(0, IOVA0, MEM, mem0.base, VHOST_ACCESS_RW));
  const next = [IOVA0, IOVA1];
  if (o.cvqAsid1) {
    if (o.dev !== undefined) right(dev.iotlbInvalidate(1, IOVA1, MEM));
    const mem1 = right(dev.allocHost(MEM, 'asid1'));
    right(dev.iotlbUpdate(1, IOVA1, MEM, mem1.base, VHOST_ACCESS_RW));
    right(dev.setGroupAsid(1, 1));
  }
  const alloc = (size: number, asid = 0): number => {
    const a = Math.ceil(next[asid]! / 16) * 16;
    next[asid] = a + size;
    expect(next[asid]! - (asid === 0 ? IOVA0 : IOVA1)).toBeLessThanOrEqual(MEM);
    return a;
  };
  const cvq = dev.cvqIndex();
  const qs = o.queues ?? (hasFeature(features, 'CTRL_VQ') ? [0, 1, cvq] : [0, 1]);
  const size = o.size ?? 64;
  const queues = new Map<number, DriverQueue>();
  for (const qi of qs) {
    const asid = dev.queueAsid(qi);
    const space = dev.iovaSpace(asid)!;
    const l = ringFactory(layout).layoutOf(size);
    const base = alloc(l.desc.size + l.driver.size + l.device.size + 64, asid);
    const { addrs } = placeRing(layout, size, base);
    const indirectArea = o.indirectArea ? { addr: alloc(size * 16 * 16, asid), size: size * 16 * 16 } : undefined;
    const driver = ringFactory(layout).driver(
      space,
      { layout, size, addrs, eventIdx: hasFeature(features, 'EVENT_IDX'), indirect: hasFeature(features, 'INDIRECT_DESC') },
      indirectArea === undefined ? undefined : { indirectArea },
    );
    if (isRingError(driver)) throw new Error(driver.message);
    right(dev.setVringNum(qi, size));
    right(dev.setVringAddr(qi, addrs));
    right(dev.setVringBase(qi, layout === 'packed' ? 0x80008000 : 0));
    if (!(o.enableLater ?? []).includes(qi)) right(dev.setVringEnable(qi, true));
    queues.set(qi, { qi, driver });
  }
  right(dev.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK));
  return { dev, features, layout, space: dev.iovaSpace(0)!, cvqSpace: dev.iovaSpace(dev.queueAsid(cvq))!, queues, alloc, cvq, cvqAsid: dev.queueAsid(cvq) };
}

/** Write `bytes` to fresh buffers, split into `pieces` readable segments (Linux sends header and payload apart). */
function outSegments(h: Harness, asid: number, bytes: Uint8Array, cuts: number[], chain: Chain): void {
  const space = asid === 0 ? h.space : h.cvqSpace;
  const at = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  for (let i = 1; i < at.length; i++) {
    const piece = bytes.subarray(at[i - 1]!, at[i]!);
    if (piece.length === 0) continue;
    const a = h.alloc(piece.length, asid);
    right(space.write(a, piece));
    chain.push(a, piece.length, false);
  }
}

export interface SentCommand {
  readonly ackAddr: number;
  readonly head: number;
}

/**
 * Queue CVQ commands (header + payload bytes) without kicking: each as out segments (cut at `cuts`,
 * default header | payload) plus a 1-byte ack buffer preset to 0xff.
 */
export function queueCommands(h: Harness, cmds: Uint8Array[], cuts?: (bytes: Uint8Array) => number[], indirect = false): SentCommand[] {
  const q = h.queues.get(h.cvq)!;
  const asid = h.cvqAsid;
  const sent: SentCommand[] = [];
  for (const bytes of cmds) {
    const chain = new Chain(64);
    outSegments(h, asid, bytes, cuts ? cuts(bytes) : [2], chain);
    const ackAddr = h.alloc(1, asid);
    right(h.cvqSpace.writeU8(ackAddr, 0xff));
    chain.push(ackAddr, 1, true);
    const head = q.driver.add(chain, sent.length, indirect);
    if (isRingError(head)) throw new Error(head.message);
    sent.push({ ackAddr, head });
  }
  return sent;
}

export interface CvqResult {
  readonly acks: number[];
  readonly used: { token: number; len: number }[];
  readonly error?: RingError;
  readonly timedOut: boolean;
}

/** Kick the CVQ (if the ring asks for it), wait for the call and reap every answer. */
export async function runCvq(h: Harness, sent: SentCommand[], timeoutMs = 1): Promise<CvqResult> {
  const q = h.queues.get(h.cvq)!;
  if (q.driver.kickNeeded()) right(h.dev.kick(h.cvq));
  const used: { token: number; len: number }[] = [];
  const u = new Used();
  let timedOut = false;
  while (used.length < sent.length) {
    const called = right(await h.dev.waitCall(h.cvq, timeoutMs));
    let got = false;
    for (;;) {
      const r = q.driver.reap(u);
      if (isRingError(r)) return { acks: sent.map((s) => right(h.cvqSpace.readU8(s.ackAddr))), used, error: r, timedOut };
      if (!r) break;
      got = true;
      used.push({ token: u.token, len: u.len });
    }
    if (!called && !got) {
      timedOut = true;
      break;
    }
  }
  return { acks: sent.map((s) => right(h.cvqSpace.readU8(s.ackAddr))), used, timedOut };
}

/** Send commands one kick each, waiting for each answer (QEMU's serial load). */
export async function sendSerial(h: Harness, cmds: Uint8Array[]): Promise<number[]> {
  const acks: number[] = [];
  for (const c of cmds) {
    const r = await runCvq(h, queueCommands(h, [c]));
    acks.push(r.acks[0]!);
  }
  return acks;
}

/** Send all commands in one batch and one kick (the parallel load). */
export async function sendBatch(h: Harness, cmds: Uint8Array[]): Promise<number[]> {
  return (await runCvq(h, queueCommands(h, cmds))).acks;
}

export const hdr = (cls: number, cmd: number, ...payload: number[]): Uint8Array => new Uint8Array([cls, cmd, ...payload]);
