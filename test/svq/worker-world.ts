/**
 * A guest with several queues on one guest RAM (SharedArrayBuffer), each with a shadow ring, for the SVQ
 * worker tests: the same world runs on the main thread (ShadowVirtqueue + LoopbackDevice, the
 * single-thread path) or through SvqWorkers, and the results are compared.
 */
import { expect } from 'vitest';
import { placeRing, ringFactory } from '../../src/ring/index.js';
import { Chain, Used, isRingError, type RingConfig, type RingDriver, type RingLayout } from '../../src/ring/types.js';
import { DirtyLog } from '../../src/svq/dirty-log.js';
import { LoopbackDevice, Testbed } from '../../src/svq/loopback.js';
import { ShadowVirtqueue, isSvqError, type SvqHandover } from '../../src/svq/shadow-virtqueue.js';

export const RING_SIZE = 16;
const SLOT = 8192;
/** Guest ring of queue i ≥ 1 (queue 0's is the Testbed's, at GUEST_RING_GPA). */
const ringGpa = (i: number): number => 0x10000 + i * 0x4000;
/** Buffers of queue i: RING_SIZE slots of 8 KiB. */
const bufGpa = (i: number, slot: number): number => 0x40000 + i * RING_SIZE * SLOT + slot * SLOT;

export interface Side {
  readonly layout: RingLayout;
  readonly eventIdx: boolean;
}

export interface Shape {
  readonly out: number;
  readonly in: number;
}

export interface QueueWorld {
  readonly config: RingConfig;
  readonly driver: RingDriver;
  readonly shadow: { config: RingConfig; indirectArea?: { addr: number; size: number } };
  /** token → expected payload and in-buffer length, while in flight. */
  readonly inFlight: Map<number, { payload: Uint8Array; shape: Shape }>;
  readonly free: number[];
  /** Used lengths seen, in reap order. */
  readonly usedLens: number[];
}

export class World {
  readonly tb: Testbed;
  readonly log: DirtyLog;
  readonly queues: QueueWorld[] = [];
  private readonly chain = new Chain(4);
  private readonly used = new Used();
  private serial = 1;

  constructor(n: number, guest: Side, shadow: Side) {
    const tb = Testbed.create({
      guest: { ...guest, size: RING_SIZE, indirect: false },
      shadow: { ...shadow, size: RING_SIZE, indirect: false },
      guestMem: 2 << 20,
      sharedMemory: true,
    });
    if (isSvqError(tb)) throw new Error(tb.message);
    this.tb = tb;
    // the main thread's log of guest RAM (every queue's SVQ, on whichever thread, ends up here)
    this.log = DirtyLog.forSpace(tb.gpa);
    this.log.attach(tb.gpa);
    for (let i = 0; i < n; i++) {
      let config = tb.guestConfig;
      let driver = tb.guestDriver;
      if (i > 0) {
        config = { ...tb.guestConfig, addrs: placeRing(guest.layout, RING_SIZE, ringGpa(i)).addrs };
        const d = ringFactory(guest.layout).driver(tb.gpa, config);
        if (isRingError(d)) throw new Error(d.message);
        driver = d;
      }
      const free: number[] = [];
      for (let s = RING_SIZE - 1; s >= 0; s--) free.push(s);
      this.queues.push({ config, driver, shadow: tb.shadowRing({ ...shadow, size: RING_SIZE, indirect: false }), inFlight: new Map(), free, usedLens: [] });
    }
  }

  /** The guest makes one chain available on queue `qi`: payload in the out-buffer, zeroed in-buffer. */
  add(qi: number, shape: Shape): boolean {
    const q = this.queues[qi]!;
    if (q.driver.numFree() < 2) return false;
    const tok = q.free.pop();
    if (tok === undefined) return false;
    const base = bufGpa(qi, tok);
    const payload = new Uint8Array(shape.out);
    for (let k = 0; k < payload.length; k++) payload[k] = ((this.serial * 31 + k) % 255) + 1;
    this.serial++;
    const mem = this.tb.guestRegion.bytes;
    mem.set(payload, base);
    mem.fill(0, base + 4096, base + 4096 + shape.in);
    const c = this.chain;
    c.reset();
    c.push(base, shape.out, false);
    c.push(base + 4096, shape.in, true);
    const r = q.driver.add(c, tok);
    if (typeof r !== 'number') throw new Error(r.message);
    q.inFlight.set(tok, { payload, shape });
    return true;
  }

  /** Reap every used chain of queue `qi`, checking lengths and echoed bytes; returns how many. */
  reap(qi: number): number {
    const q = this.queues[qi]!;
    let n = 0;
    for (;;) {
      const r = q.driver.reap(this.used);
      if (r === false) return n;
      if (r !== true) throw new Error(r.message);
      const f = q.inFlight.get(this.used.token);
      expect(f, `queue ${qi}: used token ${this.used.token} not in flight`).toBeDefined();
      const want = Math.min(f!.shape.out, f!.shape.in);
      expect(this.used.len).toBe(want);
      const base = bufGpa(qi, this.used.token);
      expect(this.tb.guestRegion.bytes.subarray(base + 4096, base + 4096 + want)).toEqual(f!.payload.subarray(0, want));
      q.inFlight.delete(this.used.token);
      q.free.push(this.used.token);
      q.usedLens.push(this.used.len);
      n++;
    }
  }

  /** Chains the guest has in flight on every queue. */
  pending(): number {
    return this.queues.reduce((n, q) => n + q.inFlight.size, 0);
  }

  /** The single-thread path: one ShadowVirtqueue + loopback device per queue on this thread. */
  inline(qi: number, opts: { dirty: boolean; resume?: SvqHandover; kickDevice?: () => void; callGuest?: () => void }): { svq: ShadowVirtqueue; device: LoopbackDevice } {
    const q = this.queues[qi]!;
    const tb = this.tb;
    const svq = ShadowVirtqueue.create({
      name: `svq${qi}`,
      guest: { space: tb.gpa, config: q.config },
      shadow: { space: tb.iovaView, config: q.shadow.config },
      iova: tb.tree,
      ...(opts.dirty ? { dirty: this.log } : {}),
      ...(opts.resume === undefined ? {} : { resume: opts.resume }),
      kickDevice: opts.kickDevice ?? (() => {}),
      callGuest: opts.callGuest ?? (() => {}),
    });
    if (isSvqError(svq)) throw new Error(svq.message);
    const dev = ringFactory(q.shadow.config.layout).device(tb.iovaView, q.shadow.config);
    if (isRingError(dev)) throw new Error(dev.message);
    return { svq, device: new LoopbackDevice(tb.iovaView, dev) };
  }

  /** A queue of this world as an SvqWorker queue. */
  workerQueue(qi: number) {
    const q = this.queues[qi]!;
    return {
      name: `svq${qi}`,
      guest: { space: this.tb.gpa, config: q.config },
      shadow: { space: this.tb.iovaView, config: q.shadow.config },
      iova: this.tb.tree,
    };
  }
}

/** Wait (yielding to the event loop) until `done()` or `ms` pass; false on timeout. */
export async function until(done: () => boolean, ms = 10_000): Promise<boolean> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}
