/**
 * The guest's virtio-net driver on the data path (src/effects/datapath.ts): per queue pair it keeps the
 * RX ring full of empty buffers and sends frames on TX; every received frame is checked byte for byte
 * against the frame sent (the device loops TX → RX on the same pair, in order), so a duplicated,
 * reordered or corrupted buffer shows up as an error naming the pair and the sequence number. A frame
 * that never arrives while later ones do (a gap in the sequence: a device that broke a ring dropped
 * what it had in flight) is counted in `rxDropped`, and checking goes on from the frame that came.
 *
 * Frames (virtio 1.2 §5.1.6): a zeroed virtio_net_hdr of the negotiated length, then an 802.1Q frame to
 * the device's MAC tagged with a VLAN the filter accepts, ethertype 0x88b5 (local experimental), and a
 * payload `le32 pair, le32 seq, bytes f(pair, seq, k)`; the length varies with (pair, seq).
 *
 * Buffers come from a per-queue pool walked round-robin (skipping slots still in flight), as a guest's
 * allocator spreads packets over its memory, so the pages a burst dirties grow with its size. Every
 * write the guest makes (frames, descriptors, avail ring) is reported to the guest-physical space's
 * write hook — what KVM's dirty logging sees of a vCPU; what the device writes reaches the dirty log
 * through SVQ.
 */
import { PAGE_SIZE } from '../memory/address-space.js';
import { virtioMb } from '../memory/barrier.js';
import { Chain, Used, isRingError, layoutOf } from '../ring/index.js';
import type { DataPath, GuestQueue } from '../effects/datapath.js';
import { writeMac, type MacString } from '../virtio/net.js';

/** Bytes per buffer slot: the largest frame (1522 + a 20-byte header) fits one. */
export const GUEST_BUF = 2048;
const ETHERTYPE = 0x88b5;
const SRC_MAC = '52:54:00:00:00:fe';

export interface GuestNetOptions {
  /** Active queue pairs (queues 2p = RX, 2p + 1 = TX). */
  readonly pairs: number;
  /** virtio_net_hdr bytes in front of each frame (§5.1.6). */
  readonly hdrLen: number;
  /** Destination MAC of every frame: the device's own. */
  readonly mac: MacString;
  /** VLAN ids to tag frames with (each must pass the device's VLAN filter). Empty: untagged. */
  readonly vlans: readonly number[];
  /** Deliver the guest's notification of queue `qi` (to the device, or to SVQ when shadowed). */
  notify(qi: number): void;
}

export interface GuestStats {
  txPosted: number;
  txDone: number;
  rxPosted: number;
  /** Frames received and checked. */
  rxDone: number;
  rxBytes: number;
  /** Frames sent that never arrived while later frames of their pair did (gaps in the sequence). */
  rxDropped: number;
}

interface Pool {
  readonly q: GuestQueue;
  readonly base: number;
  readonly slots: number;
  readonly busy: Uint8Array;
  cursor: number;
  /** Ring areas the driver writes (descriptor and driver areas), for the dirty log. */
  readonly areas: readonly { readonly addr: number; readonly size: number }[];
}

/** Frame length (Ethernet, tag included) of (pair, seq): 64 .. 1522. */
export function frameLen(pair: number, seq: number): number {
  const h = Math.imul(seq ^ Math.imul(pair + 1, 0x9e3779b1), 0x85ebca6b) >>> 0;
  return 64 + (h % (1522 - 64 + 1));
}

const payloadByte = (pair: number, seq: number, k: number): number => (seq * 7 + k * 31 + pair * 131) & 0xff;

export class GuestNet {
  readonly stats: GuestStats = { txPosted: 0, txDone: 0, rxPosted: 0, rxDone: 0, rxBytes: 0, rxDropped: 0 };
  /** Problems seen (wrong frame, bad length, ring error); the first few are kept verbatim. */
  readonly errors: string[] = [];
  private errorCount = 0;
  private readonly tx: Pool[] = [];
  private readonly rx: Pool[] = [];
  /** Next sequence number to send / to receive, per pair. */
  private readonly txSeq: Uint32Array;
  private readonly rxSeq: Uint32Array;
  private readonly chain = new Chain(4);
  private readonly used = new Used();
  private readonly mac = new Uint8Array(6);
  private readonly src = new Uint8Array(6);
  private nextPair = 0;
  private notify: (qi: number) => void;

  constructor(
    readonly path: DataPath,
    readonly opts: GuestNetOptions,
  ) {
    this.notify = opts.notify;
    writeMac(opts.mac, this.mac);
    writeMac(SRC_MAC, this.src);
    this.txSeq = new Uint32Array(opts.pairs);
    this.rxSeq = new Uint32Array(opts.pairs);
    const nq = 2 * opts.pairs;
    const room = path.bufEnd - path.bufBase;
    const slots = Math.floor(room / nq / GUEST_BUF);
    if (slots < 1) throw new RangeError(`guest RAM leaves ${room} bytes for buffers: too little for ${nq} queues`);
    for (let i = 0; i < nq; i++) {
      const q = path.queues.find((x) => x.qi === i);
      if (q === undefined) throw new RangeError(`queue ${i} is not on the data path`);
      const l = layoutOf(q.config.layout, q.config.size);
      const pool: Pool = {
        q,
        base: path.bufBase + i * slots * GUEST_BUF,
        slots: Math.min(slots, 0xffff),
        busy: new Uint8Array(Math.min(slots, 0xffff)),
        cursor: 0,
        areas: [
          { addr: q.config.addrs.desc, size: l.desc.size },
          { addr: q.config.addrs.driver, size: l.driver.size },
        ],
      };
      (i % 2 === 0 ? this.rx : this.tx).push(pool);
    }
  }

  /** Send the guest's notifications elsewhere (the VM moved to another device). */
  retarget(notify: (qi: number) => void): void {
    this.notify = notify;
  }

  /** Frames sent and not yet received back (those known dropped excluded: they never will be). */
  outstanding(): number {
    return this.stats.txPosted - this.stats.rxDone - this.stats.rxDropped;
  }

  /** Chains the guest rings hold (made available, not yet used): TX frames and empty RX buffers. */
  inFlight(): number {
    let n = 0;
    for (const p of this.tx) n += p.q.driver.inFlight();
    for (const p of this.rx) n += p.q.driver.inFlight();
    return n;
  }

  errorTotal(): number {
    return this.errorCount;
  }

  private fail(msg: string): void {
    this.errorCount++;
    if (this.errors.length < 8) this.errors.push(msg);
  }

  private takeSlot(p: Pool): number {
    for (let n = 0; n < p.slots; n++) {
      const s = p.cursor;
      p.cursor = s + 1 === p.slots ? 0 : s + 1;
      if (p.busy[s] === 0) {
        p.busy[s] = 1;
        return s;
      }
    }
    return -1;
  }

  private noteRing(p: Pool): void {
    const gpa = this.path.gpa;
    for (const a of p.areas) gpa.noteWrite(a.addr, a.size);
  }

  /** Fill every RX ring with empty buffers. */
  refill(): void {
    const c = this.chain;
    for (const p of this.rx) {
      const d = p.q.driver;
      let added = 0;
      while (d.numFree() > 0) {
        const s = this.takeSlot(p);
        if (s < 0) break;
        c.reset();
        c.push(p.base + s * GUEST_BUF, GUEST_BUF, true);
        const head = d.add(c, s);
        if (isRingError(head)) {
          p.busy[s] = 0;
          this.fail(`RX queue ${p.q.qi}: ${head.message}`);
          break;
        }
        added++;
      }
      if (added > 0) {
        this.stats.rxPosted += added;
        this.noteRing(p);
        // §2.7.13.3.1: the avail index is published before avail_event is read (SVQ may be another thread)
        virtioMb();
        if (d.kickNeeded()) this.notify(p.q.qi);
      }
    }
  }

  /** Send up to `n` frames, round-robin over the pairs, as ring room allows; returns how many. */
  send(n: number): number {
    const pairs = this.opts.pairs;
    const gpa = this.path.gpa;
    const c = this.chain;
    const hdr = this.opts.hdrLen;
    let sent = 0;
    let idle = 0;
    const touched = new Uint8Array(pairs);
    while (sent < n && idle < pairs) {
      const pair = this.nextPair;
      this.nextPair = pair + 1 === pairs ? 0 : pair + 1;
      const p = this.tx[pair]!;
      if (p.q.driver.numFree() === 0) {
        idle++;
        continue;
      }
      const s = this.takeSlot(p);
      if (s < 0) {
        idle++;
        continue;
      }
      idle = 0;
      const seq = this.txSeq[pair]!;
      const addr = p.base + s * GUEST_BUF;
      const len = hdr + frameLen(pair, seq);
      const buf = gpa.find(addr, len);
      if (buf === undefined) {
        this.fail(`TX buffer 0x${addr.toString(16)} outside guest RAM`);
        return sent;
      }
      this.writeFrame(buf.bytes, addr - buf.base, pair, seq);
      gpa.noteWrite(addr, len);
      c.reset();
      c.push(addr, len, false);
      const head = p.q.driver.add(c, s);
      if (isRingError(head)) {
        p.busy[s] = 0;
        this.fail(`TX queue ${p.q.qi}: ${head.message}`);
        return sent;
      }
      this.txSeq[pair] = seq + 1;
      touched[pair] = 1;
      sent++;
    }
    for (let pair = 0; pair < pairs; pair++) {
      if (touched[pair] === 0) continue;
      const p = this.tx[pair]!;
      this.noteRing(p);
      virtioMb();
      if (p.q.driver.kickNeeded()) this.notify(p.q.qi);
    }
    this.stats.txPosted += sent;
    return sent;
  }

  private writeFrame(b: Uint8Array, o: number, pair: number, seq: number): void {
    const hdr = this.opts.hdrLen;
    b.fill(0, o, o + hdr);
    const f = o + hdr;
    const flen = frameLen(pair, seq);
    b.set(this.mac, f);
    b.set(this.src, f + 6);
    const vlans = this.opts.vlans;
    let at = f + 12;
    if (vlans.length > 0) {
      const vid = vlans[(seq + pair) % vlans.length]!;
      b[at] = 0x81;
      b[at + 1] = 0x00;
      b[at + 2] = vid >> 8;
      b[at + 3] = vid & 0xff;
      at += 4;
    }
    b[at] = ETHERTYPE >> 8;
    b[at + 1] = ETHERTYPE & 0xff;
    at += 2;
    const end = f + flen;
    const pl = at;
    b[pl] = pair & 0xff;
    b[pl + 1] = (pair >>> 8) & 0xff;
    b[pl + 2] = 0;
    b[pl + 3] = 0;
    b[pl + 4] = seq & 0xff;
    b[pl + 5] = (seq >>> 8) & 0xff;
    b[pl + 6] = (seq >>> 16) & 0xff;
    b[pl + 7] = seq >>> 24;
    for (let i = pl + 8, k = 0; i < end; i++, k++) b[i] = payloadByte(pair, seq, k);
  }

  /** The sequence number a received frame carries (its payload's second le32), or -1 if too short to hold one. */
  private seqOf(b: Uint8Array, o: number, len: number): number {
    const pl = this.opts.hdrLen + 12 + (this.opts.vlans.length > 0 ? 4 : 0) + 2;
    if (len < pl + 8 || o + pl + 8 > b.length) return -1;
    const at = o + pl + 4;
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  }

  /** The first byte where the received frame differs from (pair, seq)'s, or -1. */
  private checkFrame(b: Uint8Array, o: number, pair: number, seq: number): number {
    const f = o + this.opts.hdrLen;
    for (let i = 0; i < 6; i++) if (b[f + i] !== this.mac[i] || b[f + 6 + i] !== this.src[i]) return 6 + i;
    const vlans = this.opts.vlans;
    let at = f + 12;
    if (vlans.length > 0) {
      const vid = vlans[(seq + pair) % vlans.length]!;
      if (b[at] !== 0x81 || b[at + 1] !== 0 || b[at + 2] !== vid >> 8 || b[at + 3] !== (vid & 0xff)) return 12;
      at += 4;
    }
    if (b[at] !== ETHERTYPE >> 8 || b[at + 1] !== (ETHERTYPE & 0xff)) return at - f;
    const pl = at + 2;
    const gotPair = b[pl]! | (b[pl + 1]! << 8);
    const gotSeq = (b[pl + 4]! | (b[pl + 5]! << 8) | (b[pl + 6]! << 16) | (b[pl + 7]! << 24)) >>> 0;
    if (gotPair !== pair || gotSeq !== seq) return pl - f;
    const end = f + frameLen(pair, seq);
    for (let i = pl + 8, k = 0; i < end; i++, k++) if (b[i] !== payloadByte(pair, seq, k)) return i - f;
    return -1;
  }

  /** Reap every used buffer: TX completions free their slot; RX frames are checked, then re-posted. */
  poll(): number {
    const u = this.used;
    const gpa = this.path.gpa;
    const hdr = this.opts.hdrLen;
    let reaped = 0;
    for (let pair = 0; pair < this.opts.pairs; pair++) {
      const tp = this.tx[pair]!;
      for (;;) {
        const r = tp.q.driver.reap(u);
        if (r === false) break;
        if (r !== true) {
          this.fail(`TX queue ${tp.q.qi}: ${r.message}`);
          break;
        }
        tp.busy[u.token] = 0;
        this.stats.txDone++;
        reaped++;
      }
      const rp = this.rx[pair]!;
      let got = 0;
      for (;;) {
        const r = rp.q.driver.reap(u);
        if (r === false) break;
        if (r !== true) {
          this.fail(`RX queue ${rp.q.qi}: ${r.message}`);
          break;
        }
        got++;
        const slot = u.token;
        rp.busy[slot] = 0;
        let seq = this.rxSeq[pair]!;
        const addr = rp.base + slot * GUEST_BUF;
        const buf = gpa.find(addr, GUEST_BUF);
        // a later frame of this pair (sent, not yet received): the ones between were dropped
        const carried = buf === undefined ? -1 : this.seqOf(buf.bytes, addr - buf.base, u.len);
        if (carried > seq && carried < this.txSeq[pair]!) {
          this.stats.rxDropped += carried - seq;
          seq = carried;
        }
        const want = hdr + frameLen(pair, seq);
        if (u.len !== want) this.fail(`pair ${pair}: frame ${seq} came back with ${u.len} bytes, sent ${want}`);
        else if (buf === undefined) this.fail(`RX buffer 0x${addr.toString(16)} outside guest RAM`);
        else {
          const bad = this.checkFrame(buf.bytes, addr - buf.base, pair, seq);
          if (bad >= 0) this.fail(`pair ${pair}: frame ${seq} differs from the frame sent at byte ${bad}`);
        }
        this.rxSeq[pair] = seq + 1;
        this.stats.rxDone++;
        this.stats.rxBytes += u.len;
      }
      if (got > 0) reaped += got;
    }
    if (reaped > 0) this.refill();
    return reaped;
  }

  /** Guest RAM pages (4 KiB) the buffer pools span. */
  poolPages(): number {
    return Math.ceil((this.path.bufEnd - this.path.bufBase) / PAGE_SIZE);
  }
}
