/**
 * The real device: `/dev/vhost-vdpa-N` driven through libc (koffi), exactly the interface QEMU's
 * vhost-vdpa backend uses (hw/virtio/vhost-vdpa.c): ioctls for control, `struct vhost_msg_v2` writes
 * to the fd for the IOTLB, eventfds for kick and call.
 *
 * Memory: `allocHost` maps MAP_SHARED|MAP_ANONYMOUS pages (shmem: vdpa_sim's use_va mode pins only
 * file-backed VMAs) and wraps them with `koffi.view` as an ArrayBuffer; the region enters `host` at
 * its real user address, so a region's base is what the IOTLB needs as `uaddr`.
 *
 * BigInt stays at the uAPI edge: feature words are bigint (the contract), everything else is a number.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../memory/address-space.js';
import type { RingAddrs } from '../../ring/types.js';
import { deviceError, VHOST_BACKEND_F, type BusyPoll, type CallWatchHandle, type DeviceError, type IovaRange, type VdpaDevice } from '../types.js';
import {
  EAGAIN,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINTR,
  errnoName,
  libc,
  MAP_ANONYMOUS,
  MAP_FAILED,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CLOEXEC,
  O_RDWR,
  POLLIN,
  PROT_READ,
  PROT_WRITE,
  type Libc,
} from './libc.js';
import { CallWatcher, NotifyStats, type CallWatch } from './call-watch.js';
import {
  encodeIotlbMsgV2,
  IOCTL,
  SIZEOF,
  VHOST_IOTLB_BATCH_BEGIN,
  VHOST_IOTLB_BATCH_END,
  VHOST_IOTLB_INVALIDATE,
  VHOST_IOTLB_UPDATE,
  type IoctlName,
} from './uapi.js';

const TWO32 = 4294967296;
/** Longest a single poll(2) may block the event loop inside `waitCall`. */
export const WAIT_SLICE_MS = 1;

const bit = (b: number): bigint => 1n << BigInt(b);

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const isU32 = (x: number): boolean => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
const isAddr = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;

/** Per-queue notifiers: QEMU's `vhost_virtqueue` host_notifier / call eventfds. */
interface QueueFds {
  kick: number;
  call: number;
}

export class VhostVdpaDevice implements VdpaDevice {
  readonly kind = 'vhost-vdpa' as const;
  readonly host: AddressSpace;

  private fd: number;
  private readonly queues = new Map<number, QueueFds>();
  /** Running call watches (stopped on close, before the eventfds they poll are closed). */
  private readonly watches = new Set<CallWatch>();
  /** Backend features acked with VHOST_SET_BACKEND_FEATURES (IOTLB batching / ASID depend on them). */
  private backendFeatures = 0n;
  private inBatch = false;
  /** Kicks, call wake-ups and reads, and the event loop's time on calls (every watch of this device). */
  readonly notifyStats = new NotifyStats();

  // Scratch space reused by every call (no allocation per ioctl / kick / call).
  private readonly u64 = new BigUint64Array(1);
  private readonly u32 = new Uint32Array(1);
  private readonly u16 = new Uint16Array(1);
  private readonly u8 = new Uint8Array(1);
  private readonly state = new DataView(new ArrayBuffer(SIZEOF.vhost_vring_state));
  private readonly addr = new DataView(new ArrayBuffer(SIZEOF.vhost_vring_addr));
  private readonly range = new DataView(new ArrayBuffer(SIZEOF.vhost_vdpa_iova_range));
  private readonly msg = new DataView(new ArrayBuffer(SIZEOF.vhost_msg_v2));
  private readonly one = new BigUint64Array([1n]);
  private readonly counter = new BigUint64Array(1);
  /** struct pollfd { int fd; short events; short revents; } */
  private readonly pollfd = new DataView(new ArrayBuffer(8));

  private constructor(
    private readonly c: Libc,
    readonly name: string,
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    this.host = new AddressSpace(`hva:${name}`);
  }

  /** open(2) the character device. */
  static open(path: string): E.Either<DeviceError, VhostVdpaDevice> {
    const lc = libc();
    if (E.isLeft(lc)) return E.left(deviceError('unsupported', 'open', `${path}: ${lc.left}`));
    const c = lc.right;
    const fd = c.open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      const errno = c.errno();
      return E.left(deviceError('ioctl', 'open', `open(${path}) failed: ${errnoName(errno)}`, errno, errnoName(errno)));
    }
    const name = path.slice(path.lastIndexOf('/') + 1) || path;
    return E.right(new VhostVdpaDevice(c, name, path, fd));
  }

  // ---------------------------------------------------------------------------------------------
  // plumbing

  private fail(op: string, kind: 'ioctl' | 'iotlb' = 'ioctl'): E.Either<DeviceError, never> {
    const errno = this.c.errno();
    const name = errnoName(errno);
    // ENOTTY: the kernel does not know the request; EOPNOTSUPP: the device lacks the operation.
    const k = errno === 25 || errno === 95 || errno === 524 ? 'unsupported' : kind;
    return E.left(deviceError(k, op, `${op} on ${this.path} failed: ${name} (errno ${errno})`, errno, name));
  }

  private closedError(op: string): E.Either<DeviceError, never> {
    return E.left(deviceError('closed', op, `${op}: ${this.path} is closed`));
  }

  private invalid(op: string, what: string): E.Either<DeviceError, never> {
    return E.left(deviceError('invalid', op, `${op}: ${what}`));
  }

  /** ioctl(fd, req, arg) → Right(undefined) or a typed error with errno. */
  private ioctl(op: IoctlName, arg: ArrayBufferView | null): E.Either<DeviceError, void> {
    if (this.fd < 0) return this.closedError(op);
    const r = this.c.ioctl(this.fd, IOCTL[op], arg);
    return r < 0 ? this.fail(op) : E.right(undefined);
  }

  private getU64(op: IoctlName): E.Either<DeviceError, bigint> {
    return E.map(() => this.u64[0]!)(this.ioctl(op, this.u64));
  }
  private getU32(op: IoctlName): E.Either<DeviceError, number> {
    return E.map(() => this.u32[0]!)(this.ioctl(op, this.u32));
  }

  /** struct vhost_vring_state { index, num } in, (optionally) num out. */
  private vringState(op: IoctlName, index: number, num: number): E.Either<DeviceError, number> {
    if (!isU32(index) || !isU32(num)) return this.invalid(op, `index ${index} / num ${num} not a u32`);
    this.state.setUint32(0, index, true);
    this.state.setUint32(4, num, true);
    return E.map(() => this.state.getUint32(4, true))(this.ioctl(op, this.state));
  }

  // ---------------------------------------------------------------------------------------------
  // host memory

  allocHost(size: number, name?: string): E.Either<DeviceError, Region> {
    if (this.fd < 0) return this.closedError('mmap');
    if (!Number.isSafeInteger(size) || size <= 0) return this.invalid('mmap', `size ${size}`);
    const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    const ptr = this.c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const ua = this.c.address(ptr);
    if (ua === MAP_FAILED || ua === 0n) return this.fail('mmap');
    const base = Number(ua);
    const added = this.host.addRegion(base, this.c.view(ptr, len), { name: name ?? `shm@0x${base.toString(16)}` });
    if (E.isLeft(added)) {
      this.c.munmap(base, len);
      return this.invalid('mmap', added.left.message);
    }
    return E.right(added.right);
  }

  /**
   * Release a region's shared pages. The range is not handed back to the kernel: it is replaced by a
   * private, never-shared mapping (MAP_FIXED), so a view of the region kept by mistake reads zeros
   * instead of faulting, and the address is never reused while stale IOTLB entries might name it.
   */
  freeHost(region: Region): E.Either<DeviceError, void> {
    const removed = this.host.removeRegion(region.base);
    if (E.isLeft(removed)) return this.invalid('munmap', removed.left.message);
    return this.release(region);
  }

  private release(region: Region): E.Either<DeviceError, void> {
    const ptr = this.c.mmap(region.base, region.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (this.c.address(ptr) === MAP_FAILED) return this.fail('mmap(MAP_FIXED)');
    return E.right(undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // device-wide ioctls

  setOwner(): E.Either<DeviceError, void> {
    return this.ioctl('VHOST_SET_OWNER', null);
  }

  getDeviceId(): E.Either<DeviceError, number> {
    return this.getU32('VHOST_VDPA_GET_DEVICE_ID');
  }

  getFeatures(): E.Either<DeviceError, bigint> {
    return this.getU64('VHOST_GET_FEATURES');
  }

  setFeatures(features: bigint): E.Either<DeviceError, void> {
    if (features < 0n || features >= 1n << 64n) return this.invalid('VHOST_SET_FEATURES', 'not a u64');
    this.u64[0] = features;
    return this.ioctl('VHOST_SET_FEATURES', this.u64);
  }

  getBackendFeatures(): E.Either<DeviceError, bigint> {
    return this.getU64('VHOST_GET_BACKEND_FEATURES');
  }

  setBackendFeatures(features: bigint): E.Either<DeviceError, void> {
    if (features < 0n || features >= 1n << 64n) return this.invalid('VHOST_SET_BACKEND_FEATURES', 'not a u64');
    this.u64[0] = features;
    const r = this.ioctl('VHOST_SET_BACKEND_FEATURES', this.u64);
    if (E.isRight(r)) this.backendFeatures = features;
    return r;
  }

  getStatus(): E.Either<DeviceError, number> {
    return E.map(() => this.u8[0]!)(this.ioctl('VHOST_VDPA_GET_STATUS', this.u8));
  }

  setStatus(status: number): E.Either<DeviceError, void> {
    if (!Number.isInteger(status) || status < 0 || status > 0xff) return this.invalid('VHOST_VDPA_SET_STATUS', `status ${status}`);
    this.u8[0] = status;
    return this.ioctl('VHOST_VDPA_SET_STATUS', this.u8);
  }

  /** struct vhost_vdpa_config { u32 off; u32 len; u8 buf[len]; } */
  getConfig(offset: number, len: number): E.Either<DeviceError, Uint8Array> {
    const op = 'VHOST_VDPA_GET_CONFIG';
    if (!isU32(offset) || !isU32(len) || len > 4096) return this.invalid(op, `offset ${offset} / len ${len}`);
    const buf = new Uint8Array(SIZEOF.vhost_vdpa_config + len);
    const v = new DataView(buf.buffer);
    v.setUint32(0, offset, true);
    v.setUint32(4, len, true);
    return E.map(() => buf.slice(SIZEOF.vhost_vdpa_config))(this.ioctl(op, buf));
  }

  getConfigSize(): E.Either<DeviceError, number> {
    return this.getU32('VHOST_VDPA_GET_CONFIG_SIZE');
  }

  getVringNum(): E.Either<DeviceError, number> {
    return E.map(() => this.u16[0]!)(this.ioctl('VHOST_VDPA_GET_VRING_NUM', this.u16));
  }

  getVqsCount(): E.Either<DeviceError, number> {
    return this.getU32('VHOST_VDPA_GET_VQS_COUNT');
  }

  getGroupNum(): E.Either<DeviceError, number> {
    return this.getU32('VHOST_VDPA_GET_GROUP_NUM');
  }

  getAsNum(): E.Either<DeviceError, number> {
    return this.getU32('VHOST_VDPA_GET_AS_NUM');
  }

  getVringGroup(qi: number): E.Either<DeviceError, number> {
    return this.vringState('VHOST_VDPA_GET_VRING_GROUP', qi, 0);
  }

  setGroupAsid(group: number, asid: number): E.Either<DeviceError, void> {
    return E.map(() => undefined)(this.vringState('VHOST_VDPA_SET_GROUP_ASID', group, asid));
  }

  /** Inclusive range; `last` is clamped to 2^53-1, the largest address a number holds exactly. */
  getIovaRange(): E.Either<DeviceError, IovaRange> {
    return E.map(() => ({ first: u64ToSafe(this.range, 0), last: u64ToSafe(this.range, 8) }))(
      this.ioctl('VHOST_VDPA_GET_IOVA_RANGE', this.range),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // virtqueues

  setVringNum(qi: number, num: number): E.Either<DeviceError, void> {
    return E.map(() => undefined)(this.vringState('VHOST_SET_VRING_NUM', qi, num));
  }

  /**
   * struct vhost_vring_addr { u32 index, flags; u64 desc_user_addr, used_user_addr, avail_user_addr,
   * log_guest_addr; } — note used before avail. Also (re)binds the queue's kick and call eventfds, as
   * QEMU's vhost_virtqueue_start does after the address: a device reset drops the call callback.
   */
  setVringAddr(qi: number, addrs: RingAddrs): E.Either<DeviceError, void> {
    const op = 'VHOST_SET_VRING_ADDR';
    if (!isU32(qi)) return this.invalid(op, `queue ${qi}`);
    if (!isAddr(addrs.desc) || !isAddr(addrs.driver) || !isAddr(addrs.device)) return this.invalid(op, 'ring address not a safe integer');
    const a = this.addr;
    a.setUint32(0, qi, true);
    a.setUint32(4, 0, true);
    setU64(a, 8, addrs.desc);
    setU64(a, 16, addrs.device);
    setU64(a, 24, addrs.driver);
    setU64(a, 32, 0);
    const r = this.ioctl(op, a);
    if (E.isLeft(r)) return r;
    return this.bindNotifiers(qi);
  }

  /** Create (once) and install the queue's kick and call eventfds (VHOST_SET_VRING_KICK / CALL). */
  private bindNotifiers(qi: number): E.Either<DeviceError, void> {
    let q = this.queues.get(qi);
    if (q === undefined) {
      const kick = this.c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (kick < 0) return this.fail('eventfd');
      const call = this.c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (call < 0) {
        const e = this.fail('eventfd');
        this.c.close(kick);
        return e;
      }
      q = { kick, call };
      this.queues.set(qi, q);
    }
    for (const [op, efd] of [['VHOST_SET_VRING_KICK', q.kick], ['VHOST_SET_VRING_CALL', q.call]] as const) {
      this.state.setUint32(0, qi, true);
      this.state.setInt32(4, efd, true);
      const r = this.ioctl(op, this.state);
      if (E.isLeft(r)) return r;
    }
    return E.right(undefined);
  }

  setVringBase(qi: number, base: number): E.Either<DeviceError, void> {
    return E.map(() => undefined)(this.vringState('VHOST_SET_VRING_BASE', qi, base));
  }

  getVringBase(qi: number): E.Either<DeviceError, number> {
    return this.vringState('VHOST_GET_VRING_BASE', qi, 0);
  }

  setVringEnable(qi: number, enable: boolean): E.Either<DeviceError, void> {
    return E.map(() => undefined)(this.vringState('VHOST_VDPA_SET_VRING_ENABLE', qi, enable ? 1 : 0));
  }

  suspend(): E.Either<DeviceError, void> {
    return this.ioctl('VHOST_VDPA_SUSPEND', null);
  }

  /**
   * VHOST_VDPA_RESUME, then a kick on every queue that has a kick eventfd. vdpa_sim (Linux 6.12) drops a
   * kick whose work item had not run when SUSPEND came (vdpasim_net_work returns on !running without
   * remembering it), so chains made available before the suspend would wait for a kick that never comes.
   * A spurious notification is always allowed (virtio 1.2 §2.7.13: the device must cope with it).
   */
  resume(): E.Either<DeviceError, void> {
    const r = this.ioctl('VHOST_VDPA_RESUME', null);
    if (E.isLeft(r)) return r;
    for (const qi of this.queues.keys()) {
      const k = this.kick(qi);
      if (E.isLeft(k)) return k;
    }
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // IOTLB: struct vhost_msg_v2 written to the fd (vhost_chr_write_iter)

  private hasBackend(b: number): boolean {
    return (this.backendFeatures & bit(b)) !== 0n;
  }

  private writeMsg(op: string, asid: number, type: number, iova: number, size: number, uaddr: number, perm: number): E.Either<DeviceError, void> {
    if (this.fd < 0) return this.closedError(op);
    if (!isU32(asid)) return this.invalid(op, `asid ${asid}`);
    // Without IOTLB_ASID the kernel does not read the asid word: a non-zero one would be ignored.
    if (asid !== 0 && !this.hasBackend(VHOST_BACKEND_F.IOTLB_ASID)) {
      return E.left(deviceError('unsupported', op, `${op}: asid ${asid} needs VHOST_BACKEND_F_IOTLB_ASID`));
    }
    if (!this.hasBackend(VHOST_BACKEND_F.IOTLB_MSG_V2)) {
      return E.left(deviceError('unsupported', op, `${op}: VHOST_BACKEND_F_IOTLB_MSG_V2 not acked (setBackendFeatures)`));
    }
    encodeIotlbMsgV2(this.msg, asid, type, iova, size, uaddr, perm);
    const n = this.c.write(this.fd, this.msg, SIZEOF.vhost_msg_v2);
    if (n < 0) return this.fail(op, 'iotlb');
    if (n !== SIZEOF.vhost_msg_v2) return E.left(deviceError('iotlb', op, `${op}: short write ${n}/${SIZEOF.vhost_msg_v2}`));
    return E.right(undefined);
  }

  /** VHOST_IOTLB_BATCH_BEGIN when IOTLB_BATCH was acked; otherwise updates apply one by one. */
  iotlbBatchBegin(asid: number): E.Either<DeviceError, void> {
    if (!this.hasBackend(VHOST_BACKEND_F.IOTLB_BATCH)) return E.right(undefined);
    if (this.inBatch) return E.left(deviceError('state', 'VHOST_IOTLB_BATCH_BEGIN', 'batch already open'));
    const r = this.writeMsg('VHOST_IOTLB_BATCH_BEGIN', asid, VHOST_IOTLB_BATCH_BEGIN, 0, 0, 0, 0);
    if (E.isRight(r)) this.inBatch = true;
    return r;
  }

  iotlbBatchEnd(asid: number): E.Either<DeviceError, void> {
    if (!this.hasBackend(VHOST_BACKEND_F.IOTLB_BATCH)) return E.right(undefined);
    if (!this.inBatch) return E.left(deviceError('state', 'VHOST_IOTLB_BATCH_END', 'no batch open'));
    this.inBatch = false;
    return this.writeMsg('VHOST_IOTLB_BATCH_END', asid, VHOST_IOTLB_BATCH_END, 0, 0, 0, 0);
  }

  iotlbUpdate(asid: number, iova: number, size: number, hva: number, perm: number): E.Either<DeviceError, void> {
    const op = 'VHOST_IOTLB_UPDATE';
    if (!isAddr(iova) || !isAddr(hva) || !Number.isSafeInteger(size) || size <= 0) return this.invalid(op, `iova 0x${iova.toString(16)} size ${size}`);
    if (perm < 1 || perm > 3) return this.invalid(op, `perm ${perm}`);
    // Only memory the device can reach through `host` may be mapped (vhost pins it by user address).
    if (!this.host.contains(hva, size)) return this.invalid(op, `hva 0x${hva.toString(16)} (+${size}) is not host memory of ${this.name}`);
    return this.writeMsg(op, asid, VHOST_IOTLB_UPDATE, iova, size, hva, perm);
  }

  iotlbInvalidate(asid: number, iova: number, size: number): E.Either<DeviceError, void> {
    const op = 'VHOST_IOTLB_INVALIDATE';
    if (!isAddr(iova) || !Number.isSafeInteger(size) || size <= 0) return this.invalid(op, `iova 0x${iova.toString(16)} size ${size}`);
    return this.writeMsg(op, asid, VHOST_IOTLB_INVALIDATE, iova, size, 0, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // notifications

  kick(qi: number): E.Either<DeviceError, void> {
    if (this.fd < 0) return this.closedError('kick');
    const q = this.queues.get(qi);
    if (q === undefined) return E.left(deviceError('state', 'kick', `queue ${qi} has no kick eventfd (setVringAddr first)`));
    const st = this.notifyStats;
    const t0 = performance.now();
    const n = this.c.write(q.kick, this.one, 8);
    st.kickMs += performance.now() - t0;
    st.kicks++;
    return n === 8 ? E.right(undefined) : this.fail('kick');
  }

  /**
   * Wait for the queue's call eventfd. A non-blocking read consumes a pending call; otherwise poll(2)
   * blocks at most WAIT_SLICE_MS at a time and the event loop runs between slices (setImmediate), so
   * timers and I/O stay live while the device (e.g. vdpa_sim's worker under TCG) takes milliseconds.
   */
  async waitCall(qi: number, timeoutMs: number): Promise<E.Either<DeviceError, boolean>> {
    const op = 'waitCall';
    if (this.fd < 0) return this.closedError(op);
    const q = this.queues.get(qi);
    if (q === undefined) return E.left(deviceError('state', op, `queue ${qi} has no call eventfd (setVringAddr first)`));
    if (!(timeoutMs >= 0)) return this.invalid(op, `timeout ${timeoutMs}`);
    const deadline = performance.now() + timeoutMs;
    const pfd = this.pollfd;
    for (;;) {
      if (this.fd < 0) return this.closedError(op);
      const n = this.c.read(q.call, this.counter, 8);
      if (n === 8) return E.right(true);
      const errno = this.c.errno();
      if (errno !== EAGAIN && errno !== EINTR) return this.fail('read(call eventfd)');
      const left = deadline - performance.now();
      if (left <= 0) return E.right(false);
      pfd.setInt32(0, q.call, true);
      pfd.setInt16(4, POLLIN, true);
      pfd.setInt16(6, 0, true);
      const ready = this.c.poll(pfd, 1, Math.min(WAIT_SLICE_MS, Math.ceil(left)));
      if (ready < 0 && this.c.errno() !== EINTR) return this.fail('poll(call eventfd)');
      if (ready <= 0) await yieldToEventLoop();
    }
  }

  /**
   * Event-driven calls: `onCall(qi)` runs on the event loop each time one of `qis` is signalled (its call
   * eventfd read, so a `waitCall` on a watched queue sees nothing — one consumer per queue). The wait
   * itself is a poll(2) on libuv's thread pool (./call-watch.ts): nothing blocks or polls on the event loop.
   */
  watchCalls(qis: readonly number[], onCall: (qi: number) => void, onError: (e: DeviceError) => void = () => undefined, busyPoll?: BusyPoll): E.Either<DeviceError, CallWatch & CallWatchHandle> {
    const op = 'watchCalls';
    if (this.fd < 0) return this.closedError(op);
    const fds: number[] = [];
    for (const qi of qis) {
      const q = this.queues.get(qi);
      if (q === undefined) return E.left(deviceError('state', op, `queue ${qi} has no call eventfd (setVringAddr first)`));
      fds.push(q.call);
    }
    let watch: CallWatch | undefined;
    const w = CallWatcher.start(this.c, qis, fds, onCall, (e) => {
      if (watch !== undefined) this.watches.delete(watch);
      onError(e);
    }, { stats: this.notifyStats, ...(busyPoll === undefined ? {} : { busyPoll }) });
    if (E.isLeft(w)) return w;
    watch = w.right;
    this.watches.add(watch);
    return E.right({
      stop: () => {
        this.watches.delete(w.right);
        w.right.stop();
      },
      get active() {
        return w.right.active;
      },
      poke: () => w.right.poke(),
    });
  }

  /** The kick / call eventfds of a queue (for a caller that wants to poll them itself). */
  notifiers(qi: number): { kick: number; call: number } | undefined {
    const q = this.queues.get(qi);
    return q === undefined ? undefined : { ...q };
  }

  close(): void {
    if (this.fd < 0) return;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    for (const q of this.queues.values()) {
      this.c.close(q.kick);
      this.c.close(q.call);
    }
    this.queues.clear();
    // Closing the fd resets the device and drops its IOTLBs (vhost_vdpa_release); then release pages.
    this.c.close(this.fd);
    this.fd = -1;
    for (const r of [...this.host.regions()]) {
      this.host.removeRegion(r.base);
      this.release(r);
    }
  }
}

function setU64(v: DataView, o: number, x: number): void {
  v.setUint32(o, x >>> 0, true);
  v.setUint32(o + 4, Math.floor(x / TWO32) >>> 0, true);
}

/** A le64 as a number, clamped to Number.MAX_SAFE_INTEGER. */
function u64ToSafe(v: DataView, o: number): number {
  const hi = v.getUint32(o + 4, true);
  if (hi >= 0x200000) return Number.MAX_SAFE_INTEGER;
  return hi * TWO32 + v.getUint32(o, true);
}

/** Open `/dev/vhost-vdpa-N` as a `VdpaDevice`. */
export function openVhostVdpa(path: string): E.Either<DeviceError, VdpaDevice> {
  return VhostVdpaDevice.open(path);
}
