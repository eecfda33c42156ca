/**
 * The data path: vdpa_sim_net's loopback — every TX chain (virtio_net_hdr included) is copied into
 * the next RX chain of the same pair, used len = bytes written; TX completes with len 0. Frames go
 * through the profile's receive filter (rx-filter.ts, over the CVQ state); with MRG_RXBUF on the full
 * profile one frame may fill several RX buffers (virtio 1.2 §5.1.6.4.2).
 */
import { virtioMb } from '../../memory/barrier.js';
import type { AddressSpace } from '../../memory/address-space.js';
import { Chain } from '../../ring/types.js';
import type { SimCore } from './core.js';
import { gather, scatter, setNumBuffers } from './dma.js';
import type { SimQueue, SimQueues } from './queues.js';
import { acceptFrame } from './rx-filter.js';

/**
 * One frame being delivered over several RX buffers (VIRTIO_NET_F_MRG_RXBUF, virtio 1.2 §5.1.6.4.2):
 * its bytes, the TX chain it came from, and the RX chains filled so far. When RX buffers run out
 * midway the assembly waits for the next RX kick; nothing is completed until the frame is whole.
 */
class RxAssembly {
  active = false;
  txId = 0;
  txDescs = 0;
  txLen: number | undefined;
  txIdOverride: number | undefined;
  len = 0;
  pos = 0;
  count = 0;
  readonly ids: Uint16Array;
  readonly descs: Uint16Array;
  readonly lens: Uint32Array;
  /** The first RX chain (its header gets num_buffers). */
  readonly first: Chain;

  constructor(
    readonly frame: Uint8Array,
    maxParts: number,
  ) {
    this.ids = new Uint16Array(maxParts);
    this.descs = new Uint16Array(maxParts);
    this.lens = new Uint32Array(maxParts);
    this.first = new Chain(Math.max(1024, maxParts));
  }
}

export class Loopback {
  /** One frame, reused (no allocation per packet). */
  private readonly frame: Uint8Array;
  private readonly rxChain: Chain;
  /** Per pair, made on first use: mergeable-RX assemblies (each with its own frame buffer). */
  private readonly assemblies = new Map<number, RxAssembly>();
  // The pass in progress (fields, not an object per pass: the hot path allocates nothing).
  private txSpace!: AddressSpace;
  private rxSpace!: AddressSpace;
  private handled = 0;

  constructor(
    private readonly core: SimCore,
    private readonly queues: SimQueues,
  ) {
    this.frame = new Uint8Array(core.profile.txMaxBytes);
    this.rxChain = new Chain(Math.max(1024, core.profile.vringNum));
  }

  /** Drop the half-delivered frame of `pair` (its queue stopped or the device reset). */
  stop(pair: number): void {
    const a = this.assemblies.get(pair);
    if (a !== undefined) a.active = false;
  }

  reset(): void {
    for (const a of this.assemblies.values()) a.active = false;
  }

  /** vdpasim_net_work for one pair: TX (2p+1) → RX (2p). Returns the chains handled. */
  process(pair: number): number {
    const core = this.core;
    const txq = this.queues.list[2 * pair + 1]!;
    const rxq = this.queues.list[2 * pair]!;
    const tx = txq.ring;
    const rx = rxq.ring;
    if (tx === undefined || rx === undefined) return 0;
    const full = core.profile.cvq === 'model';
    this.txSpace = this.queues.space(txq);
    this.rxSpace = this.queues.space(rxq);
    const asm = full && core.fMrgRxbuf ? this.assembly(pair) : undefined;
    this.handled = 0;
    let budget = core.profile.txBudget;
    let rescheduled = false;
    if (full) tx.disableKicks();
    for (;;) {
      if (!core.running() || txq.ring !== tx || rxq.ring !== rx) break;
      if (asm !== undefined && asm.active) {
        // finish the frame waiting for RX buffers before taking another
        if (this.deliverMerged(asm, txq, rxq) !== 'done') break;
        continue;
      }
      if (budget-- <= 0) {
        this.queues.markKicked(txq);
        rescheduled = true;
        break;
      }
      if (core.profile.rxOverrun === 'backpressure' && !rx.hasAvail()) break; // an RX kick resumes us
      const r = tx.pop(txq.chain);
      if (r === false) {
        // §2.7.10: kicks back on, then a full barrier before looking again (the driver may be another thread)
        if (full && (tx.enableKicks() || (virtioMb(), tx.hasAvail()))) continue;
        break;
      }
      if (r !== true) {
        core.deviceFault(txq.index, `TX: ${r.message}`, r);
        break;
      }
      this.handled++;
      if (!this.forward(txq, rxq, asm)) break;
    }
    // Whatever stopped the pass (no RX buffer, an error), TX kicks are wanted again unless we come back anyway.
    if (full && !rescheduled && txq.ring === tx) tx.enableKicks();
    this.queues.raiseCall(txq);
    this.queues.raiseCall(rxq);
    return this.handled;
  }

  /** One popped TX chain: read it, filter it, deliver it. False when the pass must stop. */
  private forward(txq: SimQueue, rxq: SimQueue, asm: RxAssembly | undefined): boolean {
    const core = this.core;
    const txChain = txq.chain;
    const frame = asm !== undefined ? asm.frame : this.frame;
    const len = Math.min(txChain.outBytes, frame.length);
    if (!gather(this.txSpace, core.regionPerms, txChain, frame, len)) {
      core.deviceFault(txq.index, 'TX buffer not readable');
      return false;
    }
    core.stats.txPackets++;
    core.stats.txBytes += len;
    const txLen = core.faults.forQueue('wrong-used-len', txq.index)?.len;
    const txId = core.faults.forQueue('bad-used-id', txq.index);
    const txIdOverride = txId === undefined ? undefined : (txId.id ?? txq.num);
    if (!acceptFrame(core.profile.rxFilter, frame, len, core.hdrLen, core.model.configMac, core.model.state(), core.fCtrlVlan)) {
      core.stats.rxDrops++;
      return this.queues.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride);
    }
    if (asm === undefined) return this.deliverOne(txq, rxq, len, txLen, txIdOverride);
    asm.active = true;
    asm.txId = txChain.id;
    asm.txDescs = txChain.ringDescs;
    asm.txLen = txLen;
    asm.txIdOverride = txIdOverride;
    asm.len = len;
    asm.pos = 0;
    asm.count = 0;
    if (this.deliverMerged(asm, txq, rxq) !== 'done') return false;
    this.handled++;
    return true;
  }

  /** The frame into one RX chain (truncated if it does not fit), then both chains completed. */
  private deliverOne(txq: SimQueue, rxq: SimQueue, len: number, txLen: number | undefined, txIdOverride: number | undefined): boolean {
    const core = this.core;
    const txChain = txq.chain;
    const rxChain = this.rxChain;
    const rr = rxq.ring!.pop(rxChain);
    if (rr !== true) {
      if (rr !== false) core.deviceFault(rxq.index, `RX: ${rr.message}`, rr);
      else core.stats.rxOverruns++;
      this.queues.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride);
      return false;
    }
    this.handled++;
    const written = scatter(this.rxSpace, core.regionPerms, rxChain, this.frame, 0, len);
    if (core.profile.rxSetsNumBuffers && core.hdrLen >= 12 && written >= 12) setNumBuffers(this.rxSpace, rxChain, 1);
    if (written < 0) {
      core.deviceFault(rxq.index, 'RX buffer not writable');
      return false;
    }
    core.stats.rxPackets++;
    core.stats.rxBytes += written;
    if (written < len) core.stats.rxTruncated++;
    const rxLen = core.faults.forQueue('wrong-used-len', rxq.index)?.len;
    const rxId = core.faults.forQueue('bad-used-id', rxq.index);
    if (!this.queues.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride)) return false;
    return this.queues.complete(rxq, rxChain.id, rxChain.ringDescs, written, rxLen, rxId === undefined ? undefined : (rxId.id ?? rxq.num));
  }

  private assembly(pair: number): RxAssembly {
    let a = this.assemblies.get(pair);
    if (a === undefined) this.assemblies.set(pair, (a = new RxAssembly(new Uint8Array(this.core.profile.txMaxBytes), this.core.profile.vringNum)));
    return a;
  }

  /**
   * Fill RX chains with the assembly's frame (§5.1.6.4.2: as many buffers as it takes, num_buffers in
   * the first header), then complete the TX chain and every RX chain in order. 'wait' when the RX ring
   * ran dry (an RX kick resumes), 'error' on a device error.
   */
  private deliverMerged(asm: RxAssembly, txq: SimQueue, rxq: SimQueue): 'done' | 'wait' | 'error' {
    while (asm.pos < asm.len) {
      const st = this.fillOne(asm, rxq);
      if (st !== 'done') return st;
    }
    asm.active = false;
    if (this.core.hdrLen >= 12 && asm.lens[0]! >= 12) setNumBuffers(this.rxSpace, asm.first, asm.count);
    this.core.stats.rxPackets++;
    this.core.stats.rxBytes += asm.len;
    if (!this.queues.complete(txq, asm.txId, asm.txDescs, 0, asm.txLen, asm.txIdOverride)) return 'error';
    for (let i = 0; i < asm.count; i++) if (!this.queues.completeData(rxq, asm.ids[i]!, asm.descs[i]!, asm.lens[i]!)) return 'error';
    return 'done';
  }

  /** The next part of the assembly's frame into the next RX chain. */
  private fillOne(asm: RxAssembly, rxq: SimQueue): 'done' | 'wait' | 'error' {
    const core = this.core;
    const rxChain = this.rxChain;
    if (asm.count >= asm.ids.length || asm.count >= 0xffff) {
      core.deviceFault(rxq.index, `RX: a ${asm.len}-byte frame needs more than ${asm.count} buffers`);
      asm.active = false;
      return 'error';
    }
    const rr = rxq.ring!.pop(rxChain);
    if (rr === false) return 'wait';
    if (rr !== true) {
      core.deviceFault(rxq.index, `RX: ${rr.message}`, rr);
      asm.active = false;
      return 'error';
    }
    const w = rxChain.inBytes === 0 ? -1 : scatter(this.rxSpace, core.regionPerms, rxChain, asm.frame, asm.pos, asm.len - asm.pos);
    if (w <= 0) {
      core.deviceFault(rxq.index, 'RX buffer not writable');
      asm.active = false;
      return 'error';
    }
    if (asm.count === 0) {
      // Chain.copyFrom takes subarray views; copy field by field to stay allocation-free
      const f = asm.first;
      f.reset();
      for (let i = 0; i < rxChain.count; i++) f.push(rxChain.addr[i]!, rxChain.len[i]!, i >= rxChain.outCount);
    }
    asm.ids[asm.count] = rxChain.id;
    asm.descs[asm.count] = rxChain.ringDescs;
    asm.lens[asm.count] = w;
    asm.count++;
    asm.pos += w;
    return 'done';
  }
}
