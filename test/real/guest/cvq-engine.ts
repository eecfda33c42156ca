/**
 * A shadow control virtqueue on a real device, as QEMU's net/vhost-vdpa.c builds it: the CVQ in its
 * own group / address space when the device offers that (`vhost_vdpa_net_cvq_start`), one page-rounded
 * out buffer and one in buffer mapped through the IOVA tree, and commands added as 2-descriptor chains
 * (out: {u8 class, u8 cmd} + payload, in: 1 ack byte) by the project's split ring driver.
 *
 * `writeBatch` / `awaitAcks` are the effects of machines/cvq-command: `cvqActors(engine)` binds them.
 * Serial writes one command per kick; parallel fills the ring (2 free descriptors per command) and the
 * out buffer, then kicks once (QEMU's "send all CVQ state load commands in parallel").
 */
import * as E from 'fp-ts/lib/Either.js';
import { fromPromise } from 'xstate';
import { deviceError, VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO, type DeviceError, type VdpaDevice } from '../../../src/device/types.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../../src/memory/address-space.js';
import { Chain, isRingError, placeRing, splitRing, Used, type RingDriver } from '../../../src/ring/index.js';
import { IovaTree, isIovaTreeError } from '../../../src/svq/iova-tree.js';
import { describeCommand, encodeCommand, type NetCtrlCommand } from '../../../src/virtio/cvq.js';
import { toHex } from '../../../src/virtio/net.js';
import type { AwaitAcksInput, CvqAck, CvqCommand, WriteBatchInput } from '../../../machines/cvq-command.js';
import { VIRTIO_CONFIG_S } from './bringup.js';

export interface CvqEngineOptions {
  /** Shadow CVQ size (≤ the device's max). */
  readonly size?: number;
  /** Out buffer bytes (page-rounded), QEMU: vhost_vdpa_net_cvq_cmd_page_len(). */
  readonly outBytes?: number;
  /** Put the CVQ's group in ASID 1 when the device has a separate CVQ group and ≥ 2 address spaces. */
  readonly ownAsid?: boolean;
}

const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;
const fail = (op: string, message: string): DeviceError => deviceError('state', op, message);

export class CvqEngine {
  private readonly chain = new Chain(2);
  private readonly used = new Used();
  /** Per in-flight command (by its index in the caller's list): the ack slot and the used length. */
  private readonly ackSlot = new Map<number, number>();
  private readonly usedLen = new Map<number, number>();
  private outOff = 0;
  private inOff = 0;
  /** Commands the device has returned, total (for accounting across a suspend / resume). */
  reaped = 0;
  kicks = 0;

  private constructor(
    readonly dev: VdpaDevice,
    readonly qi: number,
    readonly asid: number,
    readonly driver: RingDriver,
    private readonly out: { region: Region; iova: number },
    private readonly inb: { region: Region; iova: number },
    private readonly usedIdxAt: { region: Region; off: number },
  ) {}

  /** used->idx as the device last published it (virtio 1.2 §2.7.8), read from the shadow used ring. */
  deviceUsedIdx(): number {
    return this.usedIdxAt.region.view.getUint16(this.usedIdxAt.off, true);
  }

  /**
   * Set the CVQ up after FEATURES_OK and bring the device to DRIVER_OK (the CVQ first, as QEMU's
   * `vhost_vdpa_net_cvq_load` does; data queues stay disabled).
   */
  static start(dev: VdpaDevice, opts: CvqEngineOptions = {}): E.Either<DeviceError, CvqEngine> {
    const r = (<T>(e: E.Either<DeviceError, T>): T => {
      if (E.isLeft(e)) throw e.left;
      return e.right;
    });
    try {
      const nvqs = r(dev.getVqsCount());
      const qi = nvqs - 1;
      const max = r(dev.getVringNum());
      const size = Math.min(opts.size ?? 256, max);
      // Own ASID: the CVQ's group must not be shared with a data queue (vhost_vdpa_net_cvq_start)
      let asid = 0;
      if (opts.ownAsid !== false && r(dev.getAsNum()) > 1) {
        const g = r(dev.getVringGroup(qi));
        let shared = false;
        for (let q = 0; q < qi; q++) if (r(dev.getVringGroup(q)) === g) shared = true;
        if (!shared) {
          r(dev.setGroupAsid(g, 1));
          asid = 1;
        }
      }
      const lay = placeRing('split', size, 0, { deviceAlign: PAGE_SIZE });
      const ringBytes = alignUp(lay.end, PAGE_SIZE);
      const outBytes = alignUp(opts.outBytes ?? 64 * 1024, PAGE_SIZE);
      const inBytes = alignUp(size, PAGE_SIZE);
      const ring = r(dev.allocHost(ringBytes, 'cvq-ring'));
      const outR = r(dev.allocHost(outBytes, 'cvq-out'));
      const inR = r(dev.allocHost(inBytes, 'cvq-in'));

      const tree = new IovaTree(r(dev.getIovaRange()));
      const iovaSpace = new AddressSpace(`iova:asid${asid}`);
      const maps: { region: Region; iova: number; perm: number }[] = [];
      for (const [region, perm] of [[ring, VHOST_ACCESS_RW], [outR, VHOST_ACCESS_RO], [inR, VHOST_ACCESS_WO]] as const) {
        const m = tree.mapAlloc('hva', { translatedAddr: region.base, size: region.size - 1, perm });
        if (isIovaTreeError(m)) throw fail('iova-tree', m.message);
        const added = iovaSpace.addRegion(m.iova, region.buffer, { offset: region.offset, size: region.size, name: `${region.name}@iova` });
        if (E.isLeft(added)) throw fail('iova-space', added.left.message);
        maps.push({ region, iova: m.iova, perm });
      }
      r(dev.iotlbBatchBegin(asid));
      for (const m of maps) r(dev.iotlbUpdate(asid, m.iova, m.region.size, m.region.base, m.perm));
      r(dev.iotlbBatchEnd(asid));

      const ringIova = maps[0]!.iova;
      const addrs = { desc: ringIova + lay.addrs.desc, driver: ringIova + lay.addrs.driver, device: ringIova + lay.addrs.device };
      const driver = splitRing.driver(iovaSpace, { layout: 'split', size, addrs, eventIdx: false, indirect: false });
      if (isRingError(driver)) throw fail('ring', driver.message);
      r(dev.setVringNum(qi, size));
      r(dev.setVringBase(qi, 0));
      r(dev.setVringAddr(qi, addrs));
      r(dev.setVringEnable(qi, true));
      const S = VIRTIO_CONFIG_S;
      r(dev.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK));
      return E.right(
        new CvqEngine(dev, qi, asid, driver, { region: outR, iova: maps[1]!.iova }, { region: inR, iova: maps[2]!.iova }, { region: ring, off: lay.addrs.device + 2 }),
      );
    } catch (e) {
      if (typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === 'DeviceError') return E.left(e as DeviceError);
      throw e;
    }
  }

  /**
   * Add `commands` (commands[i] is the caller's command `first + i`) while the ring has 2 free
   * descriptors and the out buffer room; kick once. Serial adds exactly one. Returns how many went out.
   */
  writeBatch(strategy: WriteBatchInput['strategy'], commands: readonly CvqCommand[], first: number): E.Either<DeviceError, number> {
    if (strategy === 'parallel-indirect') return E.left(deviceError('unsupported', 'writeBatch', 'VIRTIO_F_INDIRECT_DESC is not offered by this device'));
    if (this.driver.inFlight() === 0) {
      this.outOff = 0;
      this.inOff = 0;
    }
    const outBuf = this.out.region.bytes;
    let n = 0;
    for (const c of commands) {
      if (strategy === 'serial' && n === 1) break;
      const payload = c.payload.length / 2;
      const len = 2 + payload;
      if (this.driver.numFree() < 2 || this.outOff + len > outBuf.length || this.inOff >= this.inb.region.size) break;
      outBuf[this.outOff] = c.class;
      outBuf[this.outOff + 1] = c.cmd;
      for (let i = 0; i < payload; i++) outBuf[this.outOff + 2 + i] = parseInt(c.payload.substr(2 * i, 2), 16);
      this.inb.region.bytes[this.inOff] = 0xee; // not an ack value: a device that writes nothing is seen
      this.chain.reset();
      this.chain.push(this.out.iova + this.outOff, len, false);
      this.chain.push(this.inb.iova + this.inOff, 1, true);
      const head = this.driver.add(this.chain, first + n);
      if (isRingError(head)) return E.left(deviceError('state', 'writeBatch', head.message));
      this.ackSlot.set(first + n, this.inOff);
      this.outOff += len;
      this.inOff += 1;
      n++;
    }
    if (n === 0) return E.left(deviceError('state', 'writeBatch', `no room for command ${first} (${commands[0]?.name ?? 'none'})`));
    if (this.driver.kickNeeded()) {
      const k = this.dev.kick(this.qi);
      if (E.isLeft(k)) return k;
      this.kicks++;
    }
    return E.right(n);
  }

  /** Reap until commands [first, first+count) are all used (or the timeout); acks in command order. */
  async awaitAcks(first: number, count: number, timeoutMs: number): Promise<E.Either<DeviceError, CvqAck[]>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (;;) {
        const got = this.driver.reap(this.used);
        if (isRingError(got)) return E.left(deviceError('state', 'reap', got.message));
        if (!got) break;
        this.usedLen.set(this.used.token, this.used.len);
        this.reaped++;
      }
      let done = true;
      for (let i = first; i < first + count; i++) if (!this.usedLen.has(i)) done = false;
      if (done) break;
      const left = deadline - performance.now();
      if (left <= 0) return E.left(deviceError('timeout', 'awaitAcks', `commands ${first}..${first + count - 1}: no used entry within ${timeoutMs} ms`));
      const w = await this.dev.waitCall(this.qi, left);
      if (E.isLeft(w)) return w;
    }
    const acks: CvqAck[] = [];
    for (let i = first; i < first + count; i++) {
      acks.push({ len: this.usedLen.get(i)!, ack: this.inb.region.bytes[this.ackSlot.get(i)!]! });
      this.usedLen.delete(i);
      this.ackSlot.delete(i);
    }
    return E.right(acks);
  }

  /**
   * After VHOST_VDPA_RESUME: kick again when chains are outstanding. vdpa_sim (6.12) loses a kick whose
   * work item had not run when SUSPEND came: vdpasim_net_work returns on !running without recording a
   * pending kick, and RESUME re-kicks only recorded ones. An extra kick is always harmless (§2.7.13).
   */
  resumed(): E.Either<DeviceError, void> {
    if (this.driver.inFlight() === 0) return E.right(undefined);
    this.kicks++;
    return this.dev.kick(this.qi);
  }

  /** One command, serially: write, kick, wait. */
  async send(cmd: CvqCommand, index: number, timeoutMs = 5000): Promise<E.Either<DeviceError, CvqAck>> {
    const w = this.writeBatch('serial', [cmd], index);
    if (E.isLeft(w)) return w;
    return E.map((a: CvqAck[]) => a[0]!)(await this.awaitAcks(index, 1, timeoutMs));
  }
}

/** A project command as the machine's JSON form. */
export function toCvqCommand(cmd: NetCtrlCommand): CvqCommand {
  const b = encodeCommand(cmd);
  return { name: describeCommand(cmd), class: b[0]!, cmd: b[1]!, payload: toHex(b.subarray(2)) };
}

/** A raw command (for commands no planner would send). */
export const rawCommand = (name: string, cls: number, cmd: number, payload: readonly number[]): CvqCommand => ({
  name,
  class: cls,
  cmd,
  payload: toHex(Uint8Array.from(payload)),
});

/** machines/cvq-command's effects bound to `engine`. */
export function cvqActors(engine: CvqEngine, ackTimeoutMs: number) {
  return {
    writeBatch: fromPromise<{ written: number }, WriteBatchInput>(async ({ input }) => {
      const r = engine.writeBatch(input.strategy, input.commands, input.first);
      if (E.isLeft(r)) throw r.left;
      return { written: r.right };
    }),
    awaitAcks: fromPromise<{ acks: CvqAck[] }, AwaitAcksInput>(async ({ input }) => {
      // a little past the machine's own timer, so the machine's ackTimeout decides
      const r = await engine.awaitAcks(input.first, input.count, ackTimeoutMs + 1000);
      if (E.isLeft(r)) throw r.left;
      return { acks: r.right };
    }),
  };
}
