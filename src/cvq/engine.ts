/**
 * The shadow CVQ's two device operations, machines/cvq-command's effect port (src/effects/cvq.ts)
 * binds them: `writeBatch` writes commands into the shadow CVQ and kicks, `awaitAcks` waits for the
 * batch's used entries and attributes each (QEMU net/vhost-vdpa.c `vhost_vdpa_net_cvq_add` /
 * `vhost_vdpa_net_svq_flush`). The loop over batches and the judgement of every ack are the machine's.
 *
 * `writeBatch` fills the ring as the strategy allows:
 *  - `serial`: one command per kick (QEMU before the parallel-load patch);
 *  - `parallel`: commands back to back in the page-rounded out buffer, each a 2-descriptor chain
 *    (out bytes, ack byte), until fewer than 2 descriptors are free or a buffer is full;
 *  - `parallel-indirect`: as parallel, each command one ring slot through an indirect table
 *    (VIRTIO_F_INDIRECT_DESC, §2.7.5.3 / §2.8.19): a 256-entry ring holds 256 commands in flight.
 *
 * Hot path (per command): no allocation — chains and used elements are reused, per-slot bookkeeping
 * lives in typed arrays, bytes are copied straight into the mapped out buffer.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { DeviceError, VdpaDevice } from '../device/types.js';
import { Chain, Used, isRingError, type RingError } from '../ring/types.js';
import { CTRL_ACK_LEN, CTRL_HDR_LEN, VIRTIO_NET_ERR } from '../virtio/net.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import { VIRTIO_CONFIG_S } from '../virtio/status.js';
import { commandClass, commandCode, describeCommand, encodePayload, kindOf, type NetCtrlCommand } from '../virtio/cvq.js';
import { CVQ_CHAIN_DESCS, type ShadowCvq } from './shadow.js';

const NO_ANSWER = -1;
/** How often a wait for acks looks at the device status (NEEDS_RESET) while nothing is used. */
const STATUS_POLL_MS = 20;

// the strategies are machines/cvq-command's (one meaning per name)
export { CVQ_STRATEGIES, type CvqStrategy } from '../../machines/cvq-command.js';

/** The device-readable part of a command: what goes into the out buffer. `RestoreCommand` is one. */
export interface CvqOut {
  readonly class: number;
  readonly command: number;
  /** Command-specific data (no header). */
  readonly payload: Uint8Array;
  /** For messages; default `class/command`. */
  readonly name?: string;
  /** The typed command, when known: messages then describe it fully (e.g. `VLAN_ADD vid=100`). */
  readonly cmd?: NetCtrlCommand;
}

/** A command ready for the wire, from its typed form. */
export const cvqOut = (cmd: NetCtrlCommand): CvqOut => ({ class: commandClass(cmd), command: commandCode(cmd), payload: encodePayload(cmd), cmd });

const nameOf = (c: CvqOut): string =>
  c.cmd !== undefined ? describeCommand(c.cmd) : (c.name ?? kindOf(c.class, c.command) ?? `class ${c.class} command ${c.command}`);

/**
 * What the device answered for one command, with its attribution (a machines/cvq-command `CvqAnswer` plus
 * the command it belongs to).
 */
export interface CvqAnswer {
  /** Used length the device reported (-1: no answer), even when it is not the one ack byte. */
  readonly len: number;
  /** The ack byte (meaningful when len ≥ 1). */
  readonly ack: number;
  /** Index of the command in the caller's list (`first` + slot). */
  readonly owner: number;
  /**
   * The device returned this command's chain under a used id that is not a head in flight (`badId`);
   * attributed to this command because it was the only one left without an answer.
   */
  readonly badId?: number;
}


export type CvqErrorKind =
  | 'wrong-length' // used len ≠ 1
  | 'timeout' // no call within the timeout
  | 'ring' // the device broke a ring rule (bad used id, length …)
  | 'device' // a vhost-vdpa call failed
  | 'too-large' // a command larger than the out buffer
  | 'no-indirect' // parallel-indirect without INDIRECT_DESC
  | 'busy' // writeBatch with a batch still in flight
  | 'needs-reset' // the device set DEVICE_NEEDS_RESET (§2.1.2) with commands in flight
  | 'broken'; // the shadow CVQ is unusable after a timeout or ring error (reset the device)

export interface CvqError {
  readonly _tag: 'CvqError';
  readonly kind: CvqErrorKind;
  readonly errno: 'EIO' | 'ETIMEDOUT' | 'EINVAL' | 'ENOSPC' | 'EBUSY' | 'EOPNOTSUPP';
  /** Index of the command it is about, when there is one. */
  readonly index?: number;
  readonly command?: string;
  readonly message: string;
  readonly cause?: DeviceError | RingError;
}

const ERRNO: Record<CvqErrorKind, CvqError['errno']> = {
  'wrong-length': 'EIO',
  timeout: 'ETIMEDOUT',
  ring: 'EIO',
  device: 'EIO',
  'too-large': 'ENOSPC',
  'no-indirect': 'EOPNOTSUPP',
  busy: 'EBUSY',
  'needs-reset': 'EIO',
  broken: 'EIO',
};

const cvqError = (kind: CvqErrorKind, message: string, at?: { index: number; command: string }, cause?: DeviceError | RingError): CvqError => ({
  _tag: 'CvqError',
  kind,
  errno: ERRNO[kind],
  ...(at === undefined ? {} : at),
  message: `${ERRNO[kind]}: ${message}`,
  ...(cause === undefined ? {} : { cause }),
});

export interface CvqStats {
  kicks: number;
  /** Batches written and awaited (kick-to-call round trips). */
  flushes: number;
  /** waitCall calls. */
  waits: number;
  commands: number;
}


/**
 * Drives one shadow CVQ. Not re-entrant: one batch in flight at a time, as QEMU's CVQ load.
 */
export class CvqEngine {
  private readonly chain = new Chain(CVQ_CHAIN_DESCS);
  private readonly used = new Used();
  /**
   * Per in-flight slot (the token; its ack byte is in[slot]): used len (NO_ANSWER until used; any u32
   * length the device claims, so a wrong one is reported as it was) and the ack byte; the slot of each head.
   */
  private readonly ackLen: Float64Array;
  private readonly slotOfHead: Int32Array;
  private readonly ackByte: Uint8Array;
  /** Per slot: the bad used id attributed to it (-1: none). */
  private readonly badIdOf: Float64Array;
  /** The last batch's commands and the index of its first in the caller's list (for messages). */
  private batchCmds: readonly CvqOut[] = [];
  private batchFirst = 0;
  private batch = 0;
  private pending = 0;
  private brokenBy: CvqError | undefined;
  readonly stats: CvqStats = { kicks: 0, flushes: 0, waits: 0, commands: 0 };

  constructor(
    private readonly device: VdpaDevice,
    readonly cvq: ShadowCvq,
  ) {
    this.ackLen = new Float64Array(cvq.size);
    this.slotOfHead = new Int32Array(cvq.size).fill(-1);
    this.ackByte = new Uint8Array(cvq.size);
    this.badIdOf = new Float64Array(cvq.size).fill(-1);
  }

  /** Set after a timeout or a ring error: the ring's state is unknown until the device is reset. */
  get broken(): CvqError | undefined {
    return this.brokenBy;
  }

  /** Commands of the last batch. */
  get batchSize(): number {
    return this.batch;
  }

  /**
   * Write as many of `cmds` as `strategy` and the free descriptors / buffer room allow (serial: one),
   * then kick if the device wants it. `first` is the index of cmds[0] in the caller's list (for
   * messages). Returns the number written (≥ 1 when cmds is not empty).
   */
  writeBatch(cmds: readonly CvqOut[], strategy: CvqStrategy, first = 0): E.Either<CvqError, number> {
    if (this.brokenBy !== undefined) return E.left(cvqError('broken', `shadow CVQ unusable since: ${this.brokenBy.message}`));
    if (this.pending !== 0) return E.left(cvqError('busy', `${this.pending} command(s) of the previous batch still in flight`));
    const cvq = this.cvq;
    const indirect = strategy === 'parallel-indirect';
    if (indirect && !cvq.indirect) return E.left(cvqError('no-indirect', 'parallel-indirect needs VIRTIO_F_INDIRECT_DESC negotiated'));
    const driver = cvq.driver;
    const need = indirect ? 1 : CVQ_CHAIN_DESCS;
    const max = strategy === 'serial' ? 1 : cvq.size;
    const out = cvq.out;
    const inb = cvq.in;
    const chain = this.chain;
    let outOff = 0;
    let n = 0;
    while (n < cmds.length && n < max) {
      const c = cmds[n]!;
      const len = CTRL_HDR_LEN + c.payload.length;
      if (len > out.length) {
        if (n === 0) return E.left(cvqError('too-large', `${nameOf(c)} is ${len} bytes, the out buffer ${out.length}`, { index: first, command: nameOf(c) }));
        break;
      }
      if (driver.numFree() < need || outOff + len > out.length || n >= inb.length) break;
      out[outOff] = c.class;
      out[outOff + 1] = c.command;
      out.set(c.payload, outOff + CTRL_HDR_LEN);
      inb[n] = VIRTIO_NET_ERR; // a device that claims the byte without writing it reads as a refusal
      chain.reset();
      chain.push(cvq.outIova + outOff, len, false);
      chain.push(cvq.inIova + n, CTRL_ACK_LEN, true);
      const head = driver.add(chain, n, indirect);
      if (isRingError(head)) {
        if (n === 0) return E.left(cvqError('ring', `adding ${nameOf(c)}: ${head.message}`, { index: first, command: nameOf(c) }, head));
        break;
      }
      this.slotOfHead[head] = n;
      this.ackLen[n] = NO_ANSWER;
      this.badIdOf[n] = -1;
      outOff += len;
      n++;
    }
    this.batch = n;
    this.pending = n;
    this.batchCmds = cmds;
    this.batchFirst = first;
    if (n > 0 && driver.kickNeeded()) {
      const k = this.device.kick(cvq.qi);
      if (E.isLeft(k)) return E.left(this.breakWith(cvqError('device', `kick: ${k.left.message}`, { index: first, command: nameOf(cmds[0]!) }, k.left)));
      this.stats.kicks++;
    }
    this.stats.commands += n;
    return E.right(n);
  }

  /**
   * Reap every used element available now. A used length other than the ack byte is recorded for its
   * command (the machine judges it); a used id that is not a head in flight stops the batch and is
   * attributed to the one command left without an answer, when exactly one is. Returns the error that
   * ends the batch, if any (the ring cannot be read past a bad element: the CVQ is then broken).
   */
  private drain(): CvqError | undefined {
    const driver = this.cvq.driver;
    const u = this.used;
    const inb = this.cvq.in;
    for (;;) {
      const r = driver.reap(u);
      if (r === false) return undefined;
      if (r !== true) return this.attribute(r);
      const slot = u.token;
      this.ackLen[slot] = u.len;
      this.ackByte[slot] = inb[slot]!;
      this.pending--;
    }
  }

  /** The command a bad used element belongs to, and the error that ends its batch. */
  private attribute(bad: RingError): CvqError {
    const inb = this.cvq.in;
    if (bad.rule === 'used-len-too-large' && bad.index !== undefined && bad.index < this.slotOfHead.length) {
      const slot = this.slotOfHead[bad.index]!;
      if (slot >= 0 && slot < this.batch && this.ackLen[slot] === NO_ANSWER) {
        // the head is this command's: its answer is the length the device claimed (reported, judged by the caller)
        this.ackLen[slot] = bad.usedLen ?? CTRL_ACK_LEN + 1;
        this.ackByte[slot] = inb[slot]!;
        this.pending--;
        return this.breakWith(
          cvqError('wrong-length', `device wrote ${this.ackLen[slot]} byte(s) for the ack of ${this.label(slot)}, expected ${CTRL_ACK_LEN}`, this.at(slot), bad),
        );
      }
    }
    if (bad.rule === 'used-id-not-in-flight' || bad.rule === 'used-id-out-of-range') {
      const open = this.unanswered();
      if (open.length === 1) {
        const slot = open[0]!;
        this.badIdOf[slot] = bad.index ?? -1;
        this.ackLen[slot] = bad.usedLen ?? NO_ANSWER;
        this.ackByte[slot] = inb[slot]!;
        this.pending--;
        return this.breakWith(cvqError('ring', `device returned ${this.label(slot)} under used id ${bad.index} (not a head in flight): ${bad.message}`, this.at(slot), bad));
      }
      return this.breakWith(
        cvqError('ring', `device broke the ring: ${bad.message}; ${open.length} commands of the batch are unanswered (${this.span(open)}), so the bad entry cannot be attributed to one`, undefined, bad),
      );
    }
    return this.breakWith(cvqError('ring', `device broke the ring: ${bad.message}`, undefined, bad));
  }

  /** Slots of the batch still without an answer, in command order. */
  private unanswered(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.batch; i++) if (this.ackLen[i] === NO_ANSWER) out.push(i);
    return out;
  }

  private nameAt(slot: number): string {
    const c = this.batchCmds[slot];
    return c === undefined ? `command #${this.batchFirst + slot}` : nameOf(c);
  }

  /** The command of a slot for messages: its name and its index in the caller's list. */
  private label(slot: number): string {
    return `${this.nameAt(slot)} (#${this.batchFirst + slot})`;
  }

  private at(slot: number): { index: number; command: string } {
    return { index: this.batchFirst + slot, command: this.nameAt(slot) };
  }

  private span(slots: readonly number[]): string {
    const a = slots[0]!;
    const b = slots[slots.length - 1]!;
    return a === b ? this.nameAt(a) : `#${this.batchFirst + a} ${this.nameAt(a)} … #${this.batchFirst + b} ${this.nameAt(b)}`;
  }

  /** DEVICE_NEEDS_RESET in the device status, if the status can be read. */
  private needsReset(): boolean {
    const st = this.device.getStatus();
    return E.isRight(st) && (st.right & VIRTIO_CONFIG_S.NEEDS_RESET) !== 0;
  }

  /** The device asked for a reset: blame the first command without an answer (the one it stopped at). */
  private resetError(): CvqError {
    const open = this.unanswered();
    const slot = open[0];
    return this.breakWith(
      slot === undefined
        ? cvqError('needs-reset', 'device set DEVICE_NEEDS_RESET (0x40)')
        : cvqError('needs-reset', `device set DEVICE_NEEDS_RESET (0x40) with ${this.label(slot)} in flight (${open.length} of ${this.batch} command(s) unanswered)`, this.at(slot)),
    );
  }

  /**
   * Wait until every command of the batch is used, at most `timeoutMs` in all. Right: the batch is
   * complete (acks via `acks()`, each with its used length — a wrong length is the caller's to judge);
   * Left: a bad used id (attributed to its command when it can be), the device asking for a reset
   * (NEEDS_RESET, naming the command it stopped at), a timeout (naming the first unanswered command)
   * or a device error — the CVQ is then broken.
   */
  async awaitAcks(timeoutMs: number): Promise<E.Either<CvqError, number>> {
    const deadline = performance.now() + timeoutMs;
    const qi = this.cvq.qi;
    // waited in unanswered slices: a simulated device advances its clock by each slice instead of
    // sleeping, so the budget counts the slices as well as the wall clock
    let waited = 0;
    for (;;) {
      const bad = this.drain();
      if (bad !== undefined) {
        // a wrong length on a head in flight is that command's answer: the batch ends there, judged by the caller
        if (bad.kind === 'wrong-length') break;
        return E.left(bad);
      }
      if (this.pending === 0) break;
      const left = Math.min(deadline - performance.now(), timeoutMs - waited);
      const slice = Math.min(left, STATUS_POLL_MS);
      const w = left > 0 ? await this.device.waitCall(qi, slice) : E.right(false);
      this.stats.waits++;
      if (E.isLeft(w)) return E.left(this.breakWith(cvqError('device', `waiting for the CVQ call: ${w.left.message}`, undefined, w.left)));
      if (!w.right) {
        const late = this.drain();
        if (late !== undefined) {
          if (late.kind === 'wrong-length') break;
          return E.left(late);
        }
        if (this.pending === 0) break;
        if (this.needsReset()) return E.left(this.resetError());
        if (left > 0) waited += slice;
        if (performance.now() < deadline && waited < timeoutMs) continue;
        const open = this.unanswered();
        const first = open[0]!;
        return E.left(
          this.breakWith(cvqError('timeout', `${this.pending} of ${this.batch} command(s) unanswered after ${timeoutMs} ms, from ${this.label(first)}`, this.at(first))),
        );
      }
    }
    this.stats.flushes++;
    return E.right(this.batch);
  }

  /** The answer for slot `i` of the last batch. */
  ackOf(i: number): CvqAnswer {
    const badId = this.badIdOf[i]!;
    return { len: this.ackLen[i]!, ack: this.ackByte[i]!, owner: this.batchFirst + i, ...(badId >= 0 ? { badId } : {}) };
  }

  /** The last batch's answers in command order (for the cvq-command machine's `awaitAcks`). */
  acks(): CvqAnswer[] {
    return Array.from({ length: this.batch }, (_, i) => this.ackOf(i));
  }

  private breakWith(e: CvqError): CvqError {
    this.brokenBy ??= e;
    return e;
  }
}
