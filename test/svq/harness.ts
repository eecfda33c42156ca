/**
 * A guest driver for SVQ tests: hands out buffers, makes chains available on the guest ring with unique
 * payloads, kicks SVQ when the ring says so, reaps used chains and checks their bytes.
 */
import { expect } from 'vitest';
import { Chain, Used, isRingError } from '../../src/ring/types.js';
import { Testbed, type LoopbackDevice, type RingSide, type TestbedOptions } from '../../src/svq/loopback.js';
import { isSvqError, type ShadowVirtqueue, type SvqHandover } from '../../src/svq/shadow-virtqueue.js';

export interface Shape {
  /** Byte lengths of readable and writable segments. */
  readonly out: readonly number[];
  readonly in: readonly number[];
  readonly indirect?: boolean;
}

const SLOT_BYTES = 4096;

export class Harness {
  readonly tb: Testbed;
  svq!: ShadowVirtqueue;
  device!: LoopbackDevice;
  /** Notifications the engine sent. */
  deviceKicked = 0;
  guestCalled = 0;
  private readonly chain = new Chain(64);
  private readonly used = new Used();
  private readonly freeTok: number[] = [];
  /** token → what the guest put in (payload) and the shape, while in flight. */
  readonly inFlight = new Map<number, { payload: Uint8Array; shape: Shape; segs: { addr: number; len: number }[] }>();
  returned = 0;
  nextPayload = 1;
  /** Runs inside SVQ's device kick (a device that starts work while SVQ is still in its pass). */
  onDeviceKick: (() => void) | undefined;
  private serial = 0;

  constructor(opts: TestbedOptions, readonly slotBytes = SLOT_BYTES) {
    const tb = Testbed.create(opts);
    if (isSvqError(tb)) throw new Error(tb.message);
    this.tb = tb;
    const slots = Math.floor((tb.guestRegion.size - tb.bufBase) / slotBytes);
    for (let i = slots - 1; i >= 0; i--) this.freeTok.push(i);
    this.connect();
  }

  connect(resume?: SvqHandover, shadow?: RingSide): void {
    const c = this.tb.connect(
      {
        kickDevice: () => {
          this.deviceKicked++;
          this.onDeviceKick?.();
        },
        callGuest: () => this.guestCalled++,
      },
      resume,
      shadow,
    );
    if (isSvqError(c)) throw new Error(c.message);
    this.svq = c.svq;
    this.device = c.device;
    this.svq.start();
  }

  /** Make one chain available; false when the guest ring is full. Buffers of a chain live in one slot. */
  add(shape: Shape, opts: { zeroIn?: boolean; cross?: boolean } = {}): boolean {
    const drv = this.tb.guestDriver;
    const segsN = shape.out.length + shape.in.length;
    if (shape.indirect ? drv.numFree() < 1 : drv.numFree() < segsN) return false;
    const tok = this.freeTok.pop();
    if (tok === undefined) return false;
    const mem = this.tb.gpa;
    // `cross` places the slot so its buffers straddle the middle of guest memory (split IOVA maps)
    let base = this.tb.bufBase + tok * this.slotBytes;
    if (opts.cross) base = this.tb.guestRegion.size / 2 - 64;
    const c = this.chain;
    c.reset();
    let at = base;
    const payloadLen = shape.out.reduce((s, x) => s + x, 0);
    const payload = new Uint8Array(payloadLen);
    for (let i = 0; i < payloadLen; i++) payload[i] = ((this.serial * 31 + i * 7) % 255) + 1;
    this.serial++;
    const segs: { addr: number; len: number }[] = [];
    let p = 0;
    for (const l of shape.out) {
      mem.write(at, payload.subarray(p, p + l));
      c.push(at, l, false);
      segs.push({ addr: at, len: l });
      p += l;
      at += l;
    }
    for (const l of shape.in) {
      if (opts.zeroIn !== false) mem.write(at, new Uint8Array(l));
      c.push(at, l, true);
      segs.push({ addr: at, len: l });
      at += l;
    }
    const r = drv.add(c, tok, shape.indirect === true);
    if (isRingError(r)) throw new Error(r.message);
    this.inFlight.set(tok, { payload, shape, segs });
    return true;
  }

  /** Kick SVQ if the guest ring wants it (or always, `force`). */
  kick(force = false): void {
    if (this.tb.guestDriver.kickNeeded() || force) this.svq.handleGuestKick();
  }

  /** Run the device for up to `n` chains, then deliver its call to SVQ if it wants one (or always). */
  runDevice(n: number, forceCall = false): void {
    const r = this.device.process(n);
    if (isRingError(r)) throw new Error(r.message);
    if (this.device.callNeeded() || forceCall) this.svq.handleDeviceCall();
  }

  /** Reap everything used on the guest ring, checking lengths and echoed bytes. */
  reap(): number {
    const drv = this.tb.guestDriver;
    const u = this.used;
    let n = 0;
    for (;;) {
      const r = drv.reap(u);
      if (r === false) break;
      if (r !== true) throw new Error(r.message);
      const f = this.inFlight.get(u.token);
      expect(f, `token ${u.token} returned but not in flight`).toBeDefined();
      const inBytes = f!.shape.in.reduce((s, x) => s + x, 0);
      const expectLen = Math.min(f!.payload.length, inBytes);
      expect(u.len).toBe(expectLen);
      // the in-buffers hold the payload's first used.len bytes
      const got = new Uint8Array(u.len);
      let g = 0;
      for (const s of f!.segs.slice(f!.shape.out.length)) {
        const take = Math.min(s.len, u.len - g);
        if (take <= 0) break;
        const r2 = this.tb.gpa.read(s.addr, take);
        if (r2._tag === 'Left') throw new Error(r2.left.message);
        got.set(r2.right, g);
        g += take;
      }
      expect(got).toEqual(f!.payload.subarray(0, u.len));
      this.inFlight.delete(u.token);
      this.freeTok.push(u.token);
      this.returned++;
      n++;
    }
    return n;
  }

  /** Drive kicks, device and calls until every chain came back (bounded). */
  drain(): void {
    for (let i = 0; i < 10_000 && this.inFlight.size > 0; i++) {
      this.kick(true);
      this.runDevice(64, true);
      this.reap();
      expect(this.svq.failure).toBeUndefined();
    }
    expect(this.inFlight.size).toBe(0);
  }
}
