/**
 * The shadow control virtqueue (QEMU net/vhost-vdpa.c `vhost_vdpa_net_handle_ctrl_avail`).
 *
 * Guest commands never reach the device from guest memory: each popped guest chain's readable bytes
 * are first *copied* into SVQ's own out buffer (host memory, mapped for the device), and only the copy is
 * decoded, checked and forwarded — the guest cannot change a command between check and use (no TOCTOU).
 * The device's ack lands in SVQ's own in buffer; SVQ checks it (one byte, VIRTIO_NET_OK), applies the
 * command to the device model only then, copies the ack into the guest's in buffer and returns the chain.
 *
 * Guest commands are answered strictly in the order the guest made them available, and applied to the
 * model in that order, whether the device or SVQ answered them (QEMU handles them one at a time).
 *
 * Emulated or refused without the device (as QEMU): an undecodable command or one the negotiated
 * features do not allow is acked VIRTIO_NET_ERR at once; ANNOUNCE_ACK is handled by SVQ (the device has
 * no announce state). The engine itself is one more driver of the shadow CVQ: `submit` injects its own
 * commands (the restore at the destination) alongside forwarded guest commands.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AddressSpace } from '../memory/address-space.js';
import { ringFactory } from '../ring/index.js';
import { Chain, Used, isRingError, type RingBase, type RingConfig, type RingDevice, type RingDriver } from '../ring/types.js';
import { applyCommand, commandAllowed } from '../state/apply.js';
import type { DeviceLimits, NetDeviceState } from '../state/net-state.js';
import { decodeCommand, encodeCommandInto, encodedLength, type NetCtrlCommand } from '../virtio/cvq.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../virtio/net.js';
import { svqError, type SvqError } from './shadow-virtqueue.js';

/** SVQ's command buffers, in the device's IOVA view: `slots` pairs of (out: slotBytes, in: 1 byte). */
export interface CvqBuffers {
  /** IOVA of the first out buffer; slot i's out buffer is at `out + i·slotBytes`. */
  readonly out: number;
  /** IOVA of the first ack byte; slot i's at `in + i`. */
  readonly in: number;
  readonly slotBytes: number;
  readonly slots: number;
}

export interface ShadowControlVirtqueueOptions {
  readonly name?: string;
  readonly guest: { readonly space: AddressSpace; readonly config: RingConfig };
  readonly shadow: { readonly space: AddressSpace; readonly config: RingConfig };
  readonly buffers: CvqBuffers;
  /** Features the guest negotiated (commands they do not allow are acked ERR without the device). */
  readonly negotiated: bigint;
  readonly limits: DeviceLimits;
  /** The device model (QEMU's VirtIONet state) commands are applied to once the device acks OK. */
  readonly state: NetDeviceState;
  readonly kickDevice: () => void;
  readonly callGuest: () => void;
}

export interface ShadowCvqStats {
  /** Guest commands forwarded to the device / acked OK by it / acked ERR (or a bad ack) by it. */
  forwarded: number;
  deviceOk: number;
  deviceErr: number;
  /** Guest commands answered without the device: undecodable, not negotiated, or emulated. */
  refusedLocally: number;
  emulated: number;
  /** Commands the device acked OK but the model refused (the model keeps its state; counted, not hidden). */
  modelRefused: number;
  /** Engine-injected commands completed. */
  ownCompleted: number;
  kicksSent: number;
  callsSent: number;
  stashes: number;
}

export interface CvqEvent {
  readonly source: 'guest' | 'engine';
  readonly command: NetCtrlCommand | undefined;
  readonly ack: number;
  /** Why the command got ERR without reaching the device, or why the model did not take it. */
  readonly note?: string;
}

/** A guest command in the order the guest made it available: answered locally or by the device. */
interface GuestEntry {
  readonly id: number;
  readonly ringDescs: number;
  /** Guest address of the ack byte; -1 when the chain has no writable byte (returned with len 0). */
  readonly ackGpa: number;
  readonly cmd: NetCtrlCommand | undefined;
  /** 'device': forwarded, `ack` set on completion; 'local': ERR decided at pop; 'emulate': SVQ applies it. */
  readonly how: 'device' | 'local' | 'emulate';
  ack: number | undefined;
  note: string | undefined;
}

/** A guest command as SVQ copied it out of guest memory. */
interface GuestCopy {
  readonly id: number;
  readonly ringDescs: number;
  readonly bytes: Uint8Array;
  readonly ackGpa: number;
  readonly cmd: NetCtrlCommand;
}

const EVENT_LOG_MAX = 8192;

export class ShadowControlVirtqueue {
  readonly name: string;
  readonly guestRing: RingDevice;
  readonly shadowRing: RingDriver;
  private readonly guestSpace: AddressSpace;
  private readonly view: AddressSpace;
  private readonly buf: CvqBuffers;
  private readonly negotiated: bigint;
  private readonly limits: DeviceLimits;
  private readonly kickDevice: () => void;
  private readonly callGuest: () => void;
  private model: NetDeviceState;
  private readonly chain = new Chain(64);
  private readonly schain = new Chain(2);
  private readonly used = new Used();
  /** Per command slot: the guest entry it answers, or the engine's command and callback. */
  private readonly slotEntry: (GuestEntry | undefined)[];
  private readonly slotOwn: ({ cmd: NetCtrlCommand; done: (ack: number, e: CvqEvent) => void } | undefined)[];
  private readonly freeSlots: number[] = [];
  /** Guest commands in pop order, answered to the guest strictly in that order (QEMU handles one at a time). */
  private readonly order: GuestEntry[] = [];
  /** A guest command popped while no slot or ring space was free (the -ENOSPC stash). */
  private stashedCopy: GuestCopy | undefined;
  /** Engine commands waiting for a slot. */
  private readonly ownQueue: { cmd: NetCtrlCommand; done: (ack: number, e: CvqEvent) => void }[] = [];
  private err: SvqError | undefined;
  /** The latest commands and their outcome (bounded: the oldest half is dropped past EVENT_LOG_MAX). */
  readonly events: CvqEvent[] = [];
  private stopped = false;
  private readonly counters: ShadowCvqStats = { forwarded: 0, deviceOk: 0, deviceErr: 0, refusedLocally: 0, emulated: 0, modelRefused: 0, ownCompleted: 0, kicksSent: 0, callsSent: 0, stashes: 0 };

  private constructor(opts: ShadowControlVirtqueueOptions, guestRing: RingDevice, shadowRing: RingDriver) {
    this.name = opts.name ?? 'cvq';
    this.guestRing = guestRing;
    this.shadowRing = shadowRing;
    this.guestSpace = opts.guest.space;
    this.view = opts.shadow.space;
    this.buf = opts.buffers;
    this.negotiated = opts.negotiated;
    this.limits = opts.limits;
    this.kickDevice = opts.kickDevice;
    this.callGuest = opts.callGuest;
    this.model = opts.state;
    const n = opts.buffers.slots;
    this.slotEntry = new Array<GuestEntry | undefined>(n).fill(undefined);
    this.slotOwn = new Array<{ cmd: NetCtrlCommand; done: (ack: number, e: CvqEvent) => void } | undefined>(n).fill(undefined);
    for (let i = n - 1; i >= 0; i--) this.freeSlots.push(i);
  }

  static create(opts: ShadowControlVirtqueueOptions): ShadowControlVirtqueue | SvqError {
    const name = opts.name ?? 'cvq';
    const g = ringFactory(opts.guest.config.layout).device(opts.guest.space, opts.guest.config);
    if (isRingError(g)) return svqError('setup', name, 'guest CVQ ring', g);
    const s = ringFactory(opts.shadow.config.layout).driver(opts.shadow.space, opts.shadow.config);
    if (isRingError(s)) return svqError('setup', name, 'shadow CVQ ring', s);
    const b = opts.buffers;
    if (b.slots < 1 || b.slotBytes < 2 || !opts.shadow.space.contains(b.out, b.slots * b.slotBytes) || !opts.shadow.space.contains(b.in, b.slots)) {
      return svqError('setup', name, 'CVQ command buffers are not mapped in the IOVA view');
    }
    return new ShadowControlVirtqueue(opts, g, s);
  }

  /** The device model: every command the device acked OK (and every emulated one), applied in order. */
  get state(): NetDeviceState {
    return this.model;
  }

  get failure(): SvqError | undefined {
    return this.err;
  }

  stats(): ShadowCvqStats {
    return { ...this.counters };
  }

  /** Commands on the shadow ring (guest and engine). */
  inFlight(): number {
    return this.buf.slots - this.freeSlots.length;
  }

  private log(e: CvqEvent): void {
    if (this.events.length >= EVENT_LOG_MAX) this.events.splice(0, EVENT_LOG_MAX / 2);
    this.events.push(e);
  }

  /**
   * Stop: take every answer the device already gave, then stop reading kicks and calls. Returns the guest
   * ring position and the guest commands still unanswered (ids, in pop order), to be resent or failed.
   */
  stop(): { guestBase: RingBase; unanswered: number[]; engineQueued: number } {
    if (this.err === undefined && !this.stopped) this.handleDeviceCall();
    this.stopped = true;
    const unanswered = this.order.map((e) => e.id);
    if (this.stashedCopy !== undefined) unanswered.push(this.stashedCopy.id);
    return { guestBase: this.guestRing.base(), unanswered, engineQueued: this.ownQueue.length };
  }

  // ───────────────────────────── guest kick ─────────────────────────────

  handleGuestKick(): void {
    if (this.err !== undefined || this.stopped) return;
    const guest = this.guestRing;
    for (;;) {
      guest.disableKicks();
      if (this.stashedCopy !== undefined) {
        if (!this.forward(this.stashedCopy)) break;
        this.stashedCopy = undefined;
      }
      for (;;) {
        const r = guest.pop(this.chain);
        if (r === false) break;
        if (r !== true) {
          this.err = svqError('guest-ring', this.name, 'pop from the guest CVQ', r);
          break;
        }
        const copy = this.take(this.chain);
        if (copy !== undefined && !this.forward(copy)) {
          this.stashedCopy = copy;
          this.counters.stashes++;
          break;
        }
      }
      this.notifyDevice();
      if (this.stashedCopy !== undefined || this.err !== undefined) break;
      if (!guest.enableKicks()) break;
    }
    this.answerInOrder();
  }

  /**
   * Copy the chain's readable bytes out of guest memory (the only read of them SVQ makes), then decode and
   * check the copy. Commands answered without the device join the order as they are; a command for the
   * device is returned for forwarding.
   */
  private take(c: Chain): GuestCopy | undefined {
    const ackGpa = c.count > c.outCount && c.len[c.outCount]! >= 1 ? c.addr[c.outCount]! : -1;
    const local = (how: 'local' | 'emulate', cmd: NetCtrlCommand | undefined, note: string | undefined): undefined => {
      this.order.push({ id: c.id, ringDescs: c.ringDescs, ackGpa, cmd, how, ack: how === 'local' ? VIRTIO_NET_ERR : undefined, note });
      if (how === 'local') this.counters.refusedLocally++;
      else this.counters.emulated++;
      return undefined;
    };
    // QEMU: a command without room for the ack, or larger than the shadow buffer, is an error
    if (ackGpa < 0) return local('local', undefined, 'no ack buffer');
    if (c.outBytes > this.buf.slotBytes) return local('local', undefined, `command of ${c.outBytes} bytes exceeds ${this.buf.slotBytes}`);
    const bytes = new Uint8Array(c.outBytes);
    let o = 0;
    for (let k = 0; k < c.outCount; k++) {
      const v = this.guestSpace.slice(c.addr[k]!, c.len[k]!);
      if (E.isLeft(v)) return local('local', undefined, v.left.message);
      bytes.set(v.right, o);
      o += c.len[k]!;
    }
    const d = decodeCommand([bytes]);
    if (E.isLeft(d)) return local('local', undefined, d.left.message);
    const cmd = d.right;
    if (!commandAllowed(cmd.kind, this.negotiated)) return local('local', cmd, 'not negotiated');
    // emulated: the announce state lives in the model, the device knows nothing of it
    if (cmd.kind === 'ANNOUNCE_ACK') return local('emulate', cmd, 'emulated');
    return { id: c.id, ringDescs: c.ringDescs, bytes, ackGpa, cmd };
  }

  /** Put a copied guest command on the shadow CVQ; false when there is no room (stash it). */
  private forward(copy: GuestCopy): boolean {
    const slot = this.place(copy.bytes, copy.bytes.length);
    if (slot < 0) return false;
    const e: GuestEntry = { id: copy.id, ringDescs: copy.ringDescs, ackGpa: copy.ackGpa, cmd: copy.cmd, how: 'device', ack: undefined, note: undefined };
    this.order.push(e);
    this.slotEntry[slot] = e;
    this.counters.forwarded++;
    return true;
  }

  /** Write `len` command bytes into a free slot and add (out, ack) to the shadow CVQ; -1 if no room. */
  private place(bytes: Uint8Array | undefined, len: number, cmd?: NetCtrlCommand): number {
    if (this.freeSlots.length === 0 || this.shadowRing.numFree() < 2) return -1;
    const slot = this.freeSlots.pop()!;
    const outIova = this.buf.out + slot * this.buf.slotBytes;
    const ackIova = this.buf.in + slot;
    const out = this.view.slice(outIova, len);
    if (E.isLeft(out)) {
      this.freeSlots.push(slot);
      this.err = svqError('setup', this.name, `command buffer of slot ${slot} is not mapped`);
      return -1;
    }
    if (bytes !== undefined) out.right.set(bytes.subarray(0, len));
    else encodeCommandInto(cmd!, out.right, 0);
    this.view.writeU8(ackIova, 0xff); // not an ack value: a device that writes nothing is noticed
    const c = this.schain;
    c.reset();
    c.push(outIova, len, false);
    c.push(ackIova, 1, true);
    const r = this.shadowRing.add(c, slot);
    if (isRingError(r)) {
      this.freeSlots.push(slot);
      if (r.rule !== 'no-space') this.err = svqError('setup', this.name, 'add to the shadow CVQ', r);
      return -1;
    }
    return slot;
  }

  /** Inject an engine command (restore): forwarded as soon as a slot is free; `done` gets the ack. */
  submit(cmd: NetCtrlCommand, done: (ack: number, e: CvqEvent) => void): void {
    if (this.err !== undefined || this.stopped) {
      const e: CvqEvent = { source: 'engine', command: cmd, ack: VIRTIO_NET_ERR, note: this.err?.message ?? 'CVQ stopped' };
      this.log(e);
      done(VIRTIO_NET_ERR, e);
      return;
    }
    this.ownQueue.push({ cmd, done });
    this.pumpOwn();
    this.notifyDevice();
  }

  private pumpOwn(): void {
    while (this.ownQueue.length > 0 && this.err === undefined) {
      const own = this.ownQueue[0]!;
      const len = encodedLength(own.cmd);
      if (len > this.buf.slotBytes) {
        this.ownQueue.shift();
        const e: CvqEvent = { source: 'engine', command: own.cmd, ack: VIRTIO_NET_ERR, note: `command of ${len} bytes exceeds ${this.buf.slotBytes}` };
        this.log(e);
        own.done(VIRTIO_NET_ERR, e);
        continue;
      }
      const slot = this.place(undefined, len, own.cmd);
      if (slot < 0) return;
      this.ownQueue.shift();
      this.slotOwn[slot] = own;
    }
  }

  private notifyDevice(): void {
    if (this.shadowRing.kickNeeded()) {
      this.counters.kicksSent++;
      this.kickDevice();
    }
  }

  // ───────────────────────────── device call ─────────────────────────────

  handleDeviceCall(): void {
    if (this.err !== undefined || this.stopped) return;
    const drv = this.shadowRing;
    const u = this.used;
    for (;;) {
      drv.disableCalls();
      for (;;) {
        const r = drv.reap(u);
        if (r === false) break;
        if (r !== true) {
          this.err = svqError('device-ring', this.name, 'used entry from the device', r);
          break;
        }
        this.complete(u.token, u.len);
      }
      if (this.err !== undefined || !drv.enableCalls()) break;
    }
    this.answerInOrder();
    // room again: the stash first (it was popped before anything still on the guest ring), then ours
    if (this.err === undefined && this.stashedCopy !== undefined) this.handleGuestKick();
    this.pumpOwn();
    this.notifyDevice();
  }

  /** The device answered slot `slot`: read and check its ack (QEMU: one written byte, VIRTIO_NET_OK). */
  private complete(slot: number, len: number): void {
    const ackR = this.view.readU8(this.buf.in + slot);
    let ack = E.isRight(ackR) && len === 1 ? ackR.right : VIRTIO_NET_ERR;
    if (ack !== VIRTIO_NET_OK) ack = VIRTIO_NET_ERR;
    const note = len === 1 ? undefined : `device wrote ${len} bytes, not 1`;
    if (ack === VIRTIO_NET_OK) this.counters.deviceOk++;
    else this.counters.deviceErr++;
    const entry = this.slotEntry[slot];
    const own = this.slotOwn[slot];
    this.slotEntry[slot] = undefined;
    this.slotOwn[slot] = undefined;
    this.freeSlots.push(slot);
    if (entry !== undefined) {
      entry.ack = ack;
      entry.note = note;
      return;
    }
    if (own !== undefined) {
      const applied = ack === VIRTIO_NET_OK ? this.apply(own.cmd) : undefined;
      const said = note ?? applied;
      const e: CvqEvent = { source: 'engine', command: own.cmd, ack, ...(said === undefined || said === '' ? {} : { note: said }) };
      this.log(e);
      this.counters.ownCompleted++;
      own.done(ack, e);
    }
  }

  /** Apply an acked command to the model; a note when the model refuses it (counted, state kept). */
  private apply(cmd: NetCtrlCommand): string | undefined {
    const r = applyCommand(this.model, this.negotiated, this.limits, cmd);
    if (E.isRight(r)) {
      this.model = r.right;
      return undefined;
    }
    this.counters.modelRefused++;
    return `device acked OK, model refused: ${r.left.message}`;
  }

  /** Answer the guest's commands whose outcome is known, strictly in the order the guest made them. */
  private answerInOrder(): void {
    let answered = false;
    while (this.order.length > 0) {
      const e = this.order[0]!;
      if (e.how === 'device' && e.ack === undefined) break;
      this.order.shift();
      let ack = e.ack ?? VIRTIO_NET_ERR;
      let note = e.note;
      if (e.how === 'emulate' && e.cmd !== undefined) {
        const refused = this.apply(e.cmd);
        ack = refused === undefined ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
        note = refused ?? note;
      } else if (e.how === 'device' && ack === VIRTIO_NET_OK && e.cmd !== undefined) {
        note = this.apply(e.cmd) ?? note;
      }
      this.log(note === undefined ? { source: 'guest', command: e.cmd, ack } : { source: 'guest', command: e.cmd, ack, note });
      let len = 0;
      if (e.ackGpa >= 0 && E.isRight(this.guestSpace.writeU8(e.ackGpa, ack))) len = 1; // marked dirty by the write hook
      const r = this.guestRing.push(e.id, e.ringDescs, len);
      if (r !== undefined) {
        this.err = svqError('guest-ring', this.name, `push used id ${e.id}`, r);
        return;
      }
      answered = true;
    }
    if (answered && this.guestRing.callNeeded()) {
      this.counters.callsSent++;
      this.callGuest();
    }
  }
}
