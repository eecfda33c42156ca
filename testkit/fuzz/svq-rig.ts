/**
 * A guest, an SVQ and a loopback device on the SVQ testbed, with strict token accounting: every chain
 * the guest makes available carries a token and a one-byte serial stamped into its first out-buffer;
 * a reaped chain must be in flight (else it is a duplicate), its used length must be what the loopback
 * device echoes, and its first in-byte must carry the serial back. `lost()` counts chains neither
 * returned nor held anywhere (guest ring, SVQ, stash). SVQ can be switched off (the device then works on
 * the guest ring directly from SVQ's hand-over, QEMU's passthrough) and on again, and handed over
 * through a serialized record. The soak and the SVQ fuzz target both drive it; allocation-free per chain.
 */
import { ringFactory } from '../../src/ring/index.js';
import { Chain, Used, isRingError, type RingError, type RingLayout } from '../../src/ring/types.js';
import { LoopbackDevice, Testbed, type RingSide } from '../../src/svq/loopback.js';
import { isSvqError, type ShadowVirtqueue, type SvqError, type SvqHandover } from '../../src/svq/shadow-virtqueue.js';

export interface RigOptions {
  readonly guest: RingSide;
  readonly shadow: RingSide;
  readonly guestMem?: number;
  readonly splitGuestMap?: boolean;
}

export interface ChainSpec {
  /** Byte lengths of out- and in-segments (≥ 1 out segment: the serial stamp lives there). */
  readonly out: ArrayLike<number>;
  readonly in: ArrayLike<number>;
  readonly indirect: boolean;
}

/** Bytes per token's buffer slot in guest memory. */
const SLOT = 2048;

export class SvqRig {
  readonly tb: Testbed;
  svq: ShadowVirtqueue | undefined;
  /** The device: on the shadow ring (SVQ on) or directly on the guest ring (passthrough). */
  device!: LoopbackDevice; // set by `connect`, which `create` runs before handing the rig out
  mode: 'shadow' | 'passthrough' = 'shadow';
  readonly size: number;
  private readonly chain = new Chain(64);
  private readonly used = new Used();
  /** Per token: 0 free, 1 in flight; expected used len; serial byte; first in-buffer address. */
  private readonly state: Uint8Array;
  private readonly expectLen: Uint32Array;
  private readonly serial: Uint8Array;
  private readonly inAddr: Float64Array;
  private readonly freeTok: Uint32Array;
  private freeTop: number;
  added = 0;
  returned = 0;
  switches = 0;
  handovers = 0;
  /** Chains returned while not in flight, and returned with a wrong length / without their bytes. */
  duplicates = 0;
  contentErrors = 0;
  /** First accounting violation, if any. */
  violation: string | undefined;
  private serialNext = 1;

  private constructor(tb: Testbed, readonly opts: RigOptions) {
    this.tb = tb;
    this.size = opts.guest.size;
    const n = this.size;
    this.state = new Uint8Array(n);
    this.expectLen = new Uint32Array(n);
    this.serial = new Uint8Array(n);
    this.inAddr = new Float64Array(n);
    this.freeTok = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.freeTok[i] = n - 1 - i;
    this.freeTop = n;
  }

  static create(opts: RigOptions): SvqRig | SvqError {
    const tb = Testbed.create({ guest: opts.guest, shadow: opts.shadow, guestMem: opts.guestMem ?? 1 << 20, ...(opts.splitGuestMap ? { splitGuestMap: true } : {}) });
    if (isSvqError(tb)) return tb;
    if (tb.guestRegion.size - tb.bufBase < opts.guest.size * SLOT) {
      return { _tag: 'SvqError', kind: 'setup', queue: 'rig', message: `rig: guest memory too small for ${opts.guest.size} slots` };
    }
    const rig = new SvqRig(tb, opts);
    const e = rig.connect(undefined);
    return e ?? rig;
  }

  /**
   * Unmap and drop the shadow ring of a stopped SVQ: its IOVA view region, its IOVA tree entry and the
   * host memory behind it (the testbed maps a ring at the start of its region, so the ring's descriptor
   * IOVA is the mapping's IOVA). Without this every switch would keep a ring's memory alive.
   */
  private releaseShadow(): void {
    const q = this.svq;
    if (q === undefined) return;
    const iova = q.shadowRing.config.addrs.desc;
    this.tb.iovaView.removeRegion(iova);
    const m = this.tb.tree.remove(iova);
    if ('translatedAddr' in m) this.tb.hva.removeRegion(m.translatedAddr);
    this.svq = undefined;
  }

  /** A fresh SVQ on a fresh shadow ring, resuming `resume` when given. */
  private connect(resume: SvqHandover | undefined, shadow?: RingSide): SvqError | undefined {
    this.releaseShadow();
    const c = this.tb.connect({ kickDevice: () => undefined, callGuest: () => undefined }, resume, shadow);
    if (isSvqError(c)) return c;
    this.svq = c.svq;
    this.device = c.device;
    this.mode = 'shadow';
    c.svq.start();
    return undefined;
  }

  inFlight(): number {
    return this.size - this.freeTop;
  }

  /** Chains the guest made available and never got back, minus those still held somewhere. */
  lost(): number {
    return this.added - this.returned - this.inFlight();
  }

  /** Make a chain available on the guest ring; false when the ring (or the token pool) is full. */
  add(spec: ChainSpec): boolean {
    const drv = this.tb.guestDriver;
    const nOut = spec.out.length;
    const nIn = spec.in.length;
    if (nOut < 1 || this.freeTop === 0) return false;
    if (spec.indirect && drv.config.indirect ? drv.numFree() < 1 : drv.numFree() < nOut + nIn) return false;
    const tok = this.freeTok[--this.freeTop]!;
    const base = this.tb.bufBase + tok * SLOT;
    const view = this.tb.guestRegion.bytes;
    const c = this.chain;
    c.reset();
    let at = base;
    let outBytes = 0;
    for (let k = 0; k < nOut; k++) {
      const l = spec.out[k]!;
      c.push(at, l, false);
      at += l;
      outBytes += l;
    }
    let inBytes = 0;
    const firstIn = at;
    for (let k = 0; k < nIn; k++) {
      const l = spec.in[k]!;
      c.push(at, l, true);
      at += l;
      inBytes += l;
    }
    const s = this.serialNext;
    this.serialNext = s === 255 ? 1 : s + 1;
    view[base] = s; // guest RAM region starts at GPA 0
    if (inBytes > 0) view[firstIn] = 0;
    const r = drv.add(c, tok, spec.indirect);
    if (isRingError(r)) {
      this.freeTop++;
      return false;
    }
    this.state[tok] = 1;
    this.expectLen[tok] = outBytes < inBytes ? outBytes : inBytes;
    this.serial[tok] = s;
    this.inAddr[tok] = inBytes > 0 ? firstIn : -1;
    this.added++;
    return true;
  }

  /** Guest kick (when its ring asks for one, or `force`). */
  kick(force = false): void {
    if (!this.tb.guestDriver.kickNeeded() && !force) return;
    if (this.mode === 'shadow') this.svq!.handleGuestKick();
  }

  /** Run the device for up to `max` chains; deliver its call. Returns the device's ring error, if any. */
  runDevice(max: number, forceCall = false): RingError | undefined {
    const r = this.device.process(max);
    if (isRingError(r)) return r;
    if (this.mode === 'shadow' && (this.device.callNeeded() || forceCall)) this.svq!.handleDeviceCall();
    return undefined;
  }

  /** Reap the guest's used ring, checking every element; returns chains reaped or the guest driver's error. */
  reap(): number | RingError {
    const drv = this.tb.guestDriver;
    const u = this.used;
    const view = this.tb.guestRegion.bytes;
    let n = 0;
    for (;;) {
      const r = drv.reap(u);
      if (r === false) return n;
      if (r !== true) return r;
      const tok = u.token;
      if (this.state[tok] !== 1) {
        this.duplicates++;
        this.violation ??= `token ${tok} returned while not in flight (duplicate)`;
        continue;
      }
      if (u.len !== this.expectLen[tok]) {
        this.contentErrors++;
        this.violation ??= `token ${tok}: used len ${u.len}, expected ${this.expectLen[tok]}`;
      } else if (u.len > 0 && view[this.inAddr[tok]!] !== this.serial[tok]) {
        this.contentErrors++;
        this.violation ??= `token ${tok}: in-buffer does not carry its serial back`;
      }
      this.state[tok] = 0;
      this.freeTok[this.freeTop++] = tok;
      this.returned++;
      n++;
    }
  }

  /** Kick, run and reap until nothing is in flight or `rounds` pass. */
  drain(rounds = 1000): void {
    for (let i = 0; i < rounds && this.inFlight() > 0; i++) {
      this.kick(true);
      if (this.runDevice(1 << 16, true) !== undefined) return;
      if (typeof this.reap() !== 'number') return;
      if (this.svq !== undefined && this.mode === 'shadow' && this.svq.state !== 'running') return;
    }
  }

  /**
   * SVQ off: stop it and let the device work on the guest ring from the hand-over's passthrough base
   * (the chains SVQ still held are un-popped and served again). When the in-flight chains are not the
   * tail of what SVQ popped, drains first. Returns an error text when the switch cannot be made.
   */
  switchOff(): string | undefined {
    if (this.mode !== 'shadow') return 'already passthrough';
    let h = this.svq!.stop();
    if (h.passthroughBase === undefined) {
      const e = this.connect(h);
      if (e !== undefined) return e.message;
      this.drain();
      h = this.svq!.stop();
      if (h.passthroughBase === undefined) return 'in-flight chains are not the tail of the guest ring';
    }
    const g = this.tb.guestConfig;
    const dev = ringFactory(g.layout).device(this.tb.gpa, g);
    if (isRingError(dev)) return dev.message;
    dev.setBase(h.passthroughBase);
    this.device = new LoopbackDevice(this.tb.gpa, dev);
    this.releaseShadow();
    this.mode = 'passthrough';
    this.switches++;
    return undefined;
  }

  /** SVQ on again: a new shadow ring, SVQ resuming from where the passthrough device stands. */
  switchOn(shadow?: { layout: RingLayout; size: number }): string | undefined {
    if (this.mode !== 'passthrough') return 'already shadow';
    const ring = this.device.ring;
    const g = this.tb.guestConfig;
    const h: SvqHandover = { guestLayout: g.layout, guestSize: g.size, guestBase: ring.base(), inFlight: [], passthroughBase: undefined };
    const e = this.connect(h, shadow === undefined ? undefined : { ...this.opts.shadow, ...shadow });
    if (e !== undefined) return e.message;
    this.switches++;
    return undefined;
  }

  /**
   * Migration stand-in at the queue level: stop SVQ (suspend), carry its hand-over through JSON text (as
   * the migration stream would), and resume on a fresh shadow ring from the decoded copy.
   */
  handOverThroughRecord(): string | undefined {
    if (this.mode !== 'shadow') return 'SVQ is off';
    const h = this.svq!.stop();
    const text = JSON.stringify(h);
    const back = JSON.parse(text) as SvqHandover;
    const e = this.connect(back);
    if (e !== undefined) return e.message;
    this.handovers++;
    return undefined;
  }
}
