/**
 * A tiny vhost-vdpa device for the CVQ engine's tests: just enough of `VdpaDevice` to map memory,
 * take a ring and answer CVQ commands, built from the ring layer's device side plus `decodeCommand`
 * and `applyCommand`. Faults are chosen per command index (the n-th chain the device pops).
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../src/memory/address-space.js';
import { decodeBase, ringFactory } from '../../src/ring/index.js';
import { Chain, isRingError, type RingAddrs, type RingDevice } from '../../src/ring/types.js';
import { deviceError, type DeviceError, type IovaRange, type VdpaDevice } from '../../src/device/types.js';
import { applyCommand } from '../../src/state/apply.js';
import { DEFAULT_LIMITS, resetNetState, type DeviceLimits, type NetDeviceState } from '../../src/state/net-state.js';
import { decodeCommand } from '../../src/virtio/cvq.js';
import { hasFeature } from '../../src/virtio/features.js';
import { VIRTIO_NET_ERR, VIRTIO_NET_OK, writeMac } from '../../src/virtio/net.js';

export interface LoopFaults {
  /** Ack VIRTIO_NET_ERR for these command indices (without applying them). */
  readonly nack?: ReadonlySet<number>;
  /** Report this used length for these indices. */
  readonly usedLen?: ReadonlyMap<number, number>;
  /** Never answer from this index on (the chain stays in flight). */
  readonly silentFrom?: number;
  /** Ack OK without applying (a device that lies, e.g. vdpa_sim_net's stale ack). */
  readonly fakeOk?: ReadonlySet<number>;
  /** Complete each kick's chains in reverse order. */
  readonly reverse?: boolean;
  /** Push this used id instead of the real head for these indices. */
  readonly badId?: ReadonlyMap<number, number>;
}

const unsupported = (op: string): E.Either<DeviceError, never> => E.left(deviceError('unsupported', op, `${op} is not part of the CVQ test loop`));

export class LoopDevice implements VdpaDevice {
  readonly name = 'cvq-loop';
  readonly kind = 'sim' as const;
  readonly host = new AddressSpace('hva');
  readonly iova = new AddressSpace('iova');
  state: NetDeviceState;
  /** Commands as decoded, with the ack given. */
  readonly log: Array<{ name: string; ack: number }> = [];
  kicks = 0;
  private nextHost = 0x7f00_0000_0000;
  private num = 0;
  private addrs: RingAddrs | undefined;
  private base = 0;
  private ring: RingDevice | undefined;
  private kicked = false;
  private popped = 0;
  private readonly chain = new Chain(8);

  constructor(
    readonly negotiated: bigint,
    readonly limits: DeviceLimits = DEFAULT_LIMITS,
    readonly faults: LoopFaults = {},
    mac = '52:54:00:00:00:01',
  ) {
    this.state = resetNetState(mac, negotiated);
  }

  allocHost(size: number, name?: string): E.Either<DeviceError, Region> {
    const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    const r = this.host.addRegion(this.nextHost, len, name === undefined ? {} : { name });
    this.nextHost += len + PAGE_SIZE;
    return E.mapLeft(() => deviceError('invalid', 'mmap', 'allocation failed'))(r);
  }
  freeHost(region: Region): E.Either<DeviceError, void> {
    return E.bimap(() => deviceError('invalid', 'munmap', 'not allocated'), () => undefined)(this.host.removeRegion(region.base));
  }
  iotlbUpdate(_asid: number, iova: number, size: number, hva: number): E.Either<DeviceError, void> {
    const r = this.host.find(hva, size);
    if (r === undefined) return E.left(deviceError('iotlb', 'VHOST_IOTLB_UPDATE', 'EFAULT: not host memory'));
    const a = this.iova.addRegion(iova, r.buffer, { offset: r.offset + (hva - r.base), size });
    return E.bimap((e: { message: string }) => deviceError('iotlb', 'VHOST_IOTLB_UPDATE', e.message), () => undefined)(a);
  }
  iotlbInvalidate(_asid: number, iova: number, size: number): E.Either<DeviceError, void> {
    for (const r of [...this.iova.regions()]) if (r.base >= iova && r.base < iova + size) this.iova.removeRegion(r.base);
    return E.right(undefined);
  }
  iotlbBatchBegin(): E.Either<DeviceError, void> {
    return E.right(undefined);
  }
  iotlbBatchEnd(): E.Either<DeviceError, void> {
    return E.right(undefined);
  }
  getVringNum(): E.Either<DeviceError, number> {
    return E.right(1024);
  }
  getIovaRange(): E.Either<DeviceError, IovaRange> {
    return E.right({ first: 0, last: 2 ** 48 - 1 });
  }
  setVringNum(_qi: number, num: number): E.Either<DeviceError, void> {
    this.num = num;
    return E.right(undefined);
  }
  setVringAddr(_qi: number, addrs: RingAddrs): E.Either<DeviceError, void> {
    this.addrs = addrs;
    return E.right(undefined);
  }
  setVringBase(_qi: number, base: number): E.Either<DeviceError, void> {
    this.base = base;
    return E.right(undefined);
  }
  setVringEnable(_qi: number, enable: boolean): E.Either<DeviceError, void> {
    if (!enable) {
      this.ring = undefined;
      return E.right(undefined);
    }
    const layout = hasFeature(this.negotiated, 'RING_PACKED') ? 'packed' : 'split';
    const ring = ringFactory(layout).device(this.iova, {
      layout,
      size: this.num,
      addrs: this.addrs!,
      eventIdx: hasFeature(this.negotiated, 'EVENT_IDX'),
      indirect: hasFeature(this.negotiated, 'INDIRECT_DESC'),
    });
    if (isRingError(ring)) return E.left(deviceError('invalid', 'VHOST_VDPA_SET_VRING_ENABLE', ring.message));
    ring.setBase(decodeBase(layout, this.base));
    this.ring = ring;
    return E.right(undefined);
  }
  kick(): E.Either<DeviceError, void> {
    this.kicks++;
    this.kicked = true;
    return E.right(undefined);
  }
  getConfig(offset: number, len: number): E.Either<DeviceError, Uint8Array> {
    const cfg = new Uint8Array(24);
    writeMac(this.state.mac, cfg, 0);
    return E.right(cfg.slice(offset, offset + len));
  }

  /** Process the kicked chains now; true when something was used (the call). */
  private process(): boolean {
    if (!this.kicked || this.ring === undefined) return false;
    this.kicked = false;
    const done: Array<[id: number, descs: number, len: number]> = [];
    const f = this.faults;
    for (;;) {
      const c = this.chain;
      const got = this.ring.pop(c);
      if (isRingError(got)) throw new Error(`driver broke the ring: ${got.message}`);
      if (!got) break;
      const index = this.popped++;
      if (f.silentFrom !== undefined && index >= f.silentFrom) continue;
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < c.outCount; i++) pieces.push(E.getOrElseW(() => new Uint8Array(0))(this.iova.read(c.addr[i]!, c.len[i]!)));
      const cmd = decodeCommand(pieces);
      let ack: number = VIRTIO_NET_ERR;
      let name = 'UNDECODABLE';
      if (E.isRight(cmd)) {
        name = cmd.right.kind;
        if (f.nack?.has(index)) ack = VIRTIO_NET_ERR;
        else if (f.fakeOk?.has(index)) ack = VIRTIO_NET_OK;
        else {
          const next = applyCommand(this.state, this.negotiated, this.limits, cmd.right);
          if (E.isRight(next)) {
            this.state = next.right;
            ack = VIRTIO_NET_OK;
          }
        }
      }
      this.log.push({ name, ack });
      this.iova.writeU8(c.addr[c.outCount]!, ack);
      done.push([f.badId?.get(index) ?? c.id, c.ringDescs, f.usedLen?.get(index) ?? 1]);
    }
    if (f.reverse) done.reverse();
    for (const [id, descs, len] of done) {
      const r = this.ring.push(id, descs, len);
      if (isRingError(r)) throw new Error(r.message);
    }
    return done.length > 0;
  }

  async waitCall(_qi: number, timeoutMs: number): Promise<E.Either<DeviceError, boolean>> {
    if (this.process()) return E.right(true);
    await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 50)));
    return E.right(this.process());
  }

  // The rest of the uAPI is outside the CVQ loop.
  setOwner() {
    return unsupported('VHOST_SET_OWNER');
  }
  getDeviceId() {
    return E.right(1);
  }
  getFeatures() {
    return E.right(this.negotiated);
  }
  setFeatures() {
    return unsupported('VHOST_SET_FEATURES');
  }
  getBackendFeatures() {
    return E.right(0n);
  }
  setBackendFeatures() {
    return unsupported('VHOST_SET_BACKEND_FEATURES');
  }
  getStatus() {
    return E.right(0);
  }
  setStatus() {
    return unsupported('VHOST_VDPA_SET_STATUS');
  }
  getConfigSize() {
    return E.right(24);
  }
  getVqsCount() {
    return E.right(3);
  }
  getGroupNum() {
    return E.right(1);
  }
  getAsNum() {
    return E.right(1);
  }
  getVringGroup() {
    return E.right(0);
  }
  setGroupAsid() {
    return unsupported('VHOST_VDPA_SET_GROUP_ASID');
  }
  getVringBase() {
    return unsupported('VHOST_GET_VRING_BASE');
  }
  suspend() {
    return unsupported('VHOST_VDPA_SUSPEND');
  }
  resume() {
    return unsupported('VHOST_VDPA_RESUME');
  }
  close(): void {}
}
