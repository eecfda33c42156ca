/**
 * The CVQ restore engine: sends virtio-net control commands through a shadow CVQ and checks every ack
 * (QEMU net/vhost-vdpa.c `vhost_vdpa_net_cvq_add` / `vhost_vdpa_net_svq_flush` / `_cvq_load`).
 *
 * One interface, three strategies:
 *  - `serial`: one command per kick, wait for its ack (QEMU before the parallel-load patch);
 *  - `parallel`: write commands back to back into the page-rounded out buffer, each a 2-descriptor
 *    chain (out bytes, ack byte), kick once, flush when fewer than 2 descriptors are free or a buffer
 *    is full, then check every ack ("send all CVQ state load commands in parallel");
 *  - `parallel-indirect`: as parallel, each command one ring slot through an indirect table
 *    (VIRTIO_F_INDIRECT_DESC, §2.7.5.3 / §2.8.19): a 256-entry ring holds 256 commands in flight.
 *
 * Every ack is judged: OK; VIRTIO_NET_ERR (→ EIO naming the command); a used length other than the one
 * ack byte (→ EIO); no answer within the timeout (→ ETIMEDOUT). Only commands acked OK are reported as
 * applied (`acked`, in command order), so a caller never applies a refused command to its model.
 * The primitives `writeBatch` / `awaitAcks` are exactly the cvq-command machine's two actors.
 *
 * Hot path (per command): no allocation — chains and used elements are reused, per-slot bookkeeping
 * lives in typed arrays, bytes are copied straight into the mapped out buffer.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { DeviceError, VdpaDevice } from '../device/types.js';
import { Chain, Used, isRingError, type RingError } from '../ring/types.js';
import { commandAllowed } from '../state/apply.js';
import { CTRL_ACK_LEN, CTRL_HDR_LEN, VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../virtio/net.js';
import { commandClass, commandCode, describeCommand, encodePayload, kindOf, type NetCtrlCommand } from '../virtio/cvq.js';
import { CVQ_CHAIN_DESCS, type ShadowCvq } from './shadow.js';

const NO_ANSWER = -1;
const OVERSIZED = -2;

export type CvqStrategy = 'serial' | 'parallel' | 'parallel-indirect';
export const CVQ_STRATEGIES: readonly CvqStrategy[] = ['serial', 'parallel', 'parallel-indirect'];

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

/** What the device answered for one command. */
export interface CvqAck {
  /** Used length the device reported (-1: no answer). */
  readonly len: number;
  /** The ack byte (meaningful when len ≥ 1). */
  readonly ack: number;
}

/** `unanswered`: sent, but the batch ended (ring or device error) before its used entry. */
export type CvqOutcome = 'ok' | 'nack' | 'wrong-length' | 'timeout' | 'unanswered' | 'not-sent';

export type CvqErrorKind =
  | 'nack' // ack VIRTIO_NET_ERR (or any non-OK byte)
  | 'wrong-length' // used len ≠ 1
  | 'timeout' // no call within the timeout
  | 'ring' // the device broke a ring rule (bad used id, length …)
  | 'device' // a vhost-vdpa call failed
  | 'not-negotiated' // a command the negotiated features do not allow (never sent)
  | 'too-large' // a command larger than the out buffer
  | 'no-indirect' // parallel-indirect without INDIRECT_DESC
  | 'busy' // writeBatch with a batch still in flight
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
  nack: 'EIO',
  'wrong-length': 'EIO',
  timeout: 'ETIMEDOUT',
  ring: 'EIO',
  device: 'EIO',
  'not-negotiated': 'EOPNOTSUPP',
  'too-large': 'ENOSPC',
  'no-indirect': 'EOPNOTSUPP',
  busy: 'EBUSY',
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
  /** Wall-clock ms spent in `run`. */
  elapsedMs: number;
}

export interface CvqReport {
  readonly strategy: CvqStrategy;
  /** Per command, in order. */
  readonly outcomes: readonly CvqOutcome[];
  /** Indices of the commands acked OK, ascending: exactly those the device applied. */
  readonly acked: readonly number[];
  /** Commands [0, okPrefix) were all acked OK. */
  readonly okPrefix: number;
  readonly stats: Readonly<CvqStats>;
}

export type CvqRunError = CvqError & { readonly report: CvqReport };

export interface CvqRunOptions {
  readonly strategy: CvqStrategy;
  /** How long one flushed batch may wait for all its acks (default 1000 ms). */
  readonly timeoutMs?: number;
  /** When given, commands the features do not allow are refused before anything is sent. */
  readonly negotiated?: bigint;
}

/**
 * Drives one shadow CVQ. Not re-entrant: one batch in flight at a time, as QEMU's CVQ load.
 */
export class CvqEngine {
  private readonly chain = new Chain(CVQ_CHAIN_DESCS);
  private readonly used = new Used();
  /**
   * Per in-flight slot (the token; its ack byte is in[slot]): used len (NO_ANSWER until used,
   * OVERSIZED when the device claimed more than the ack byte) and the ack byte; the slot of each head.
   */
  private readonly ackLen: Int32Array;
  private readonly slotOfHead: Int32Array;
  private readonly ackByte: Uint8Array;
  private batch = 0;
  private pending = 0;
  private brokenBy: CvqError | undefined;
  readonly stats: CvqStats = { kicks: 0, flushes: 0, waits: 0, commands: 0, elapsedMs: 0 };

  constructor(
    private readonly device: VdpaDevice,
    readonly cvq: ShadowCvq,
  ) {
    this.ackLen = new Int32Array(cvq.size);
    this.slotOfHead = new Int32Array(cvq.size).fill(-1);
    this.ackByte = new Uint8Array(cvq.size);
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
      outOff += len;
      n++;
    }
    this.batch = n;
    this.pending = n;
    if (n > 0 && driver.kickNeeded()) {
      const k = this.device.kick(cvq.qi);
      if (E.isLeft(k)) return E.left(this.breakWith(cvqError('device', `kick: ${k.left.message}`, { index: first, command: nameOf(cmds[0]!) }, k.left)));
      this.stats.kicks++;
    }
    this.stats.commands += n;
    return E.right(n);
  }

  /** Reap every used element available now. */
  private drain(): RingError | undefined {
    const driver = this.cvq.driver;
    const u = this.used;
    const inb = this.cvq.in;
    for (;;) {
      const r = driver.reap(u);
      if (r === false) return undefined;
      if (r !== true) return r;
      const slot = u.token;
      this.ackLen[slot] = u.len;
      this.ackByte[slot] = inb[slot]!;
      this.pending--;
    }
  }

  /**
   * Wait until every command of the batch is used, at most `timeoutMs` in all. Right: the batch is
   * complete (acks via `ackOf`); Left: a timeout, a ring error or a device error (the CVQ is then broken).
   */
  async awaitAcks(timeoutMs: number): Promise<E.Either<CvqError, number>> {
    const deadline = performance.now() + timeoutMs;
    const qi = this.cvq.qi;
    for (;;) {
      const bad = this.drain();
      if (bad !== undefined) return E.left(this.breakWith(this.ringFault(bad)));
      if (this.pending === 0) break;
      const left = deadline - performance.now();
      const w = left > 0 ? await this.device.waitCall(qi, left) : E.right(false);
      this.stats.waits++;
      if (E.isLeft(w)) return E.left(this.breakWith(cvqError('device', `waiting for the CVQ call: ${w.left.message}`, undefined, w.left)));
      if (!w.right) {
        const late = this.drain();
        if (late === undefined && this.pending === 0) break;
        return E.left(this.breakWith(cvqError('timeout', `${this.pending} of ${this.batch} command(s) unanswered after ${timeoutMs} ms`)));
      }
    }
    this.stats.flushes++;
    return E.right(this.batch);
  }

  /** The answer for slot `i` of the last batch. */
  ackOf(i: number): CvqAck {
    return { len: this.ackLen[i]!, ack: this.ackByte[i]! };
  }

  /** The last batch's answers in command order (for the cvq-command machine's `awaitAcks`). */
  acks(): CvqAck[] {
    return Array.from({ length: this.batch }, (_, i) => this.ackOf(i));
  }

  /** A ring rule the device broke; an oversized used len is the wrong-length failure of its command. */
  private ringFault(bad: RingError): CvqError {
    if (bad.rule === 'used-len-too-large' && bad.index !== undefined && bad.index < this.slotOfHead.length) {
      const slot = this.slotOfHead[bad.index]!;
      if (slot >= 0) {
        this.ackLen[slot] = OVERSIZED;
        return cvqError('wrong-length', `device used more than the ack byte: ${bad.message}`, undefined, bad);
      }
    }
    return cvqError('ring', `device broke the ring: ${bad.message}`, undefined, bad);
  }

  private breakWith(e: CvqError): CvqError {
    this.brokenBy ??= e;
    return e;
  }

  /**
   * Send `cmds` in order with `strategy`: write a batch, flush, check every ack, repeat. Stops at the
   * first batch with a bad ack (later commands are not sent). Right: all acked OK.
   */
  async run(cmds: readonly CvqOut[], opts: CvqRunOptions): Promise<E.Either<CvqRunError, CvqReport>> {
    const t0 = performance.now();
    const strategy = opts.strategy;
    const timeoutMs = opts.timeoutMs ?? 1000;
    const outcomes: CvqOutcome[] = new Array<CvqOutcome>(cmds.length).fill('not-sent');
    const acked: number[] = [];
    const report = (): CvqReport => {
      let okPrefix = 0;
      while (okPrefix < outcomes.length && outcomes[okPrefix] === 'ok') okPrefix++;
      this.stats.elapsedMs += performance.now() - t0;
      return { strategy, outcomes, acked, okPrefix, stats: { ...this.stats } };
    };
    const fail = (e: CvqError): E.Either<CvqRunError, CvqReport> => E.left({ ...e, report: report() });

    if (opts.negotiated !== undefined) {
      for (let i = 0; i < cmds.length; i++) {
        const kind = kindOf(cmds[i]!.class, cmds[i]!.command);
        if (kind !== undefined && !commandAllowed(kind, opts.negotiated)) {
          return fail(cvqError('not-negotiated', `${nameOf(cmds[i]!)} is not allowed by the negotiated features`, { index: i, command: nameOf(cmds[i]!) }));
        }
      }
    }

    let cursor = 0;
    while (cursor < cmds.length) {
      const rest = cursor === 0 ? cmds : cmds.slice(cursor);
      const w = this.writeBatch(rest, strategy, cursor);
      if (E.isLeft(w)) return fail(w.left);
      const n = w.right;
      const a = await this.awaitAcks(timeoutMs);
      if (E.isLeft(a)) {
        // a timeout leaves the unanswered commands timed out; any other failure, merely unanswered
        const missing: CvqOutcome = a.left.kind === 'timeout' ? 'timeout' : 'unanswered';
        let at = -1;
        for (let i = 0; i < n; i++) {
          const o = this.ackLen[i] === NO_ANSWER ? missing : this.judge(i);
          outcomes[cursor + i] = o;
          if (o === 'ok') acked.push(cursor + i);
          else if (at < 0 && (o === a.left.kind || (o === 'timeout' && a.left.kind === 'timeout'))) at = cursor + i;
        }
        if (at < 0) at = cursor;
        return fail({ ...a.left, index: at, command: nameOf(cmds[at]!) });
      }
      let bad = -1;
      for (let i = 0; i < n; i++) {
        const o = this.judge(i);
        outcomes[cursor + i] = o;
        if (o === 'ok') acked.push(cursor + i);
        else if (bad < 0) bad = i;
      }
      if (bad >= 0) {
        const index = cursor + bad;
        const command = nameOf(cmds[index]!);
        const { len, ack } = this.ackOf(bad);
        return fail(
          outcomes[index] === 'nack'
            ? cvqError('nack', `device acked ${command} with ${ack === VIRTIO_NET_ERR ? 'VIRTIO_NET_ERR' : `0x${ack.toString(16)}`}`, { index, command })
            : cvqError('wrong-length', `device wrote ${len} byte(s) for the ack of ${command}, expected ${CTRL_ACK_LEN}`, { index, command }),
        );
      }
      cursor += n;
    }
    return E.right(report());
  }

  private judge(i: number): CvqOutcome {
    const len = this.ackLen[i]!;
    if (len === NO_ANSWER) return 'unanswered';
    if (len !== CTRL_ACK_LEN) return 'wrong-length';
    return this.ackByte[i] === VIRTIO_NET_OK ? 'ok' : 'nack';
  }
}
