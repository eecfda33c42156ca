/**
 * The control virtqueue (virtio 1.2 §5.1.6.5): each chain's readable bytes, copied before use, go to
 * the profile's CVQ model (the class modules' rules over the reducers, or vdpa_sim_net's); the 1-byte
 * ack goes to the first writable byte; used len = bytes written. The CVQ faults (NACK, delayed ack,
 * no answer, NEEDS_RESET, wrong used len / id) apply per command.
 */
import { VIRTIO_NET_ERR, VIRTIO_NET_OK } from '../../virtio/net.js';
import type { AddressSpace } from '../../memory/address-space.js';
import type { Chain } from '../../ring/types.js';
import type { SimCore } from './core.js';
import { gather, writeByte } from './dma.js';
import { cvqCommandName } from './faults.js';
import { CVQ_MAX_COMMAND, type CvqLogEntry } from './options.js';
import type { SimQueue, SimQueues } from './queues.js';

/** One popped command: what was read and where its answer goes. */
interface Popped {
  readonly q: SimQueue;
  /** The IOVA space at the pop (a delayed ack still answers there). */
  readonly space: AddressSpace;
  readonly bytes: Uint8Array;
  /** Readable bytes of the chain (bytes.length when not above CVQ_MAX_COMMAND). */
  readonly outBytes: number;
  readonly entry: CvqLogEntry;
  readonly id: number;
  readonly ringDescs: number;
  /** First device-writable byte (-1: none; a zero-length writable descriptor holds none). */
  readonly ackAddr: number;
}

export class SimCvq {
  constructor(
    private readonly core: SimCore,
    private readonly queues: SimQueues,
  ) {}

  /** One processing pass over the CVQ; returns the chains handled. */
  process(q: SimQueue): number {
    if (q.stalled) return 0;
    const ring = q.ring!;
    const full = this.core.profile.cvq === 'model';
    this.core.model.beginPass();
    if (full) ring.disableKicks();
    let n = 0;
    for (;;) {
      if (!this.core.running() || q.ring !== ring || q.stalled) break;
      const r = ring.pop(q.chain);
      if (r === false) {
        if (full && ring.enableKicks()) continue;
        break;
      }
      if (r !== true) {
        this.core.deviceFault(q.index, `CVQ: ${r.message}`, r);
        break;
      }
      n++;
      if (!this.command(q, q.chain)) break;
    }
    this.queues.raiseCall(q);
    return n;
  }

  /** One popped CVQ chain; false when the pass must stop. */
  private command(q: SimQueue, chain: Chain): boolean {
    const p = this.read(q, chain);
    if (p === undefined) return false;
    const { cls, cmd, name } = p.entry;
    const f = this.core.faults;
    if (f.forCommand('needs-reset', cls, cmd) !== undefined) {
      this.core.cvqLog.push({ ...p.entry, reason: 'NEEDS_RESET (injected)' });
      this.core.needsReset(q.index, `injected on ${name}`);
      return false;
    }
    if (f.forCommand('no-answer', cls, cmd) !== undefined) {
      this.core.cvqLog.push({ ...p.entry, reason: 'never answered (injected)' });
      q.stalled = true;
      return false;
    }
    const nack = f.forCommand('nack', cls, cmd) !== undefined;
    const badLen = f.forCommand('wrong-used-len', cls, cmd);
    const badId = f.forCommand('bad-used-id', cls, cmd);
    const answer = (): boolean => this.answer(p, nack, badLen?.len, badId === undefined ? undefined : (badId.id ?? q.num));
    const delay = f.forCommand('delay-ack', cls, cmd);
    if (delay === undefined) return answer();
    this.delay(q, delay.us, answer);
    return false;
  }

  /**
   * Copy the command before judging it (no time-of-check/time-of-use), at most CVQ_MAX_COMMAND bytes,
   * and log it. Undefined (pass over) when it cannot be read or has no header.
   */
  private read(q: SimQueue, chain: Chain): Popped | undefined {
    const core = this.core;
    const space = this.queues.space(q);
    const outBytes = chain.outBytes;
    const bytes = new Uint8Array(Math.min(outBytes, CVQ_MAX_COMMAND));
    if (!gather(space, core.regionPerms, chain, bytes, bytes.length)) {
      core.deviceFault(q.index, 'CVQ: command buffer not readable');
      return undefined;
    }
    const now = core.clock.now;
    if (bytes.length < 2) {
      // vdpasim: header pull fails → the chain is dropped unanswered and the pass ends;
      // QEMU: "virtio-net ctrl missing headers" → virtio_error (NEEDS_RESET).
      core.cvqLog.push({ cls: -1, cmd: -1, name: 'SHORT_HEADER', bytes, ack: undefined, reason: `${bytes.length}-byte command, no header`, poppedAt: now, ackedAt: undefined });
      core.deviceFault(q.index, `CVQ: ${bytes.length}-byte command has no header`);
      return undefined;
    }
    if (chain.inBytes < 1 && core.profile.cvq === 'model') {
      core.deviceFault(q.index, 'CVQ: command without a writable ack byte');
      return undefined;
    }
    const cls = bytes[0]!;
    const cmd = bytes[1]!;
    core.stats.cvqCommands++;
    const entry: CvqLogEntry = { cls, cmd, name: cvqCommandName(cls, cmd), bytes, ack: undefined, reason: '', poppedAt: now, ackedAt: undefined };
    let ackAddr = -1;
    for (let i = chain.outCount; i < chain.count; i++) {
      if (chain.len[i]! > 0) {
        ackAddr = chain.addr[i]!;
        break;
      }
    }
    return { q, space, bytes, outBytes, entry, id: chain.id, ringDescs: chain.ringDescs, ackAddr };
  }

  /** Judge the command, write the ack, return the chain; false when the pass must stop. */
  private answer(p: Popped, nack: boolean, lenOverride: number | undefined, idOverride: number | undefined): boolean {
    const core = this.core;
    const model = core.profile.cvq === 'model';
    const out = nack
      ? { ack: VIRTIO_NET_ERR, reason: 'NACK (injected)' }
      : p.outBytes > CVQ_MAX_COMMAND && model
        ? { ack: VIRTIO_NET_ERR, reason: `command of ${p.outBytes} bytes exceeds ${CVQ_MAX_COMMAND}` }
        : core.model.handle(p.bytes, core.driverFeatures);
    core.cvqLog.push({ ...p.entry, ack: out.ack, reason: out.reason, ackedAt: core.clock.now });
    if (out.ack === VIRTIO_NET_OK) core.stats.acksOk++;
    else core.stats.acksErr++;
    let written = 0;
    if (p.ackAddr >= 0) {
      if (!writeByte(p.space, core.regionPerms, p.ackAddr, out.ack)) {
        core.deviceFault(p.q.index, `CVQ: ack byte at 0x${p.ackAddr.toString(16)} not writable`);
        return false;
      }
      written = 1;
    }
    return this.queues.complete(p.q, p.id, p.ringDescs, written, lenOverride, idOverride);
  }

  /** A delayed ack: the CVQ stalls until `us` later, then answers and carries on with what queued up. */
  private delay(q: SimQueue, us: number, answer: () => boolean): void {
    q.stalled = true;
    const ring = q.ring;
    this.core.clock.schedule(this.core.clock.now + us, () => {
      const fire = (): void => {
        if (q.ring !== ring || !q.stalled) return; // reset or disabled meanwhile
        q.stalled = false;
        // answer, then carry on at once with what queued up behind it (raises the call)
        if (answer()) this.process(q);
        else this.queues.raiseCall(q);
      };
      if (this.core.suspended) this.core.afterResume.push(fire);
      else fire();
    });
  }
}
