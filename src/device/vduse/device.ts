/**
 * shadowvq as a VDUSE device ("vDPA Device in Userspace", drivers/vdpa/vdpa_user/vduse_dev.c): the
 * kernel's virtio driver (virtio_vdpa → virtio_net) drives rings this process serves.
 *
 *   /dev/vduse/control   VDUSE_CREATE_DEV / VDUSE_DESTROY_DEV
 *   /dev/vduse/$NAME     control messages (read/write of struct vduse_dev_request/response), the IOTLB
 *                        (VDUSE_IOTLB_GET_FD + mmap), kick eventfds (VDUSE_VQ_SETUP_KICKFD) and
 *                        interrupts (VDUSE_VQ_INJECT_IRQ)
 *
 * Nothing here blocks: the device fd is opened O_NONBLOCK and `pollMessages` reads what is there, so the
 * messages that arrive while a bus driver binds (they are synchronous for the kernel: one unanswered for
 * `msg_timeout`, 30 s, marks the device broken) are answered from the caller's event loop.
 *
 * Memory: every IOTLB region fetched with GET_FD is mmap'ed MAP_SHARED and entered into `space` at its
 * IOVA (the driver's DMA addresses), so the ring layer reads the kernel's rings and buffers there.
 * UPDATE_IOTLB invalidates: the overlapping regions leave `space` and their pages are replaced by a
 * private mapping (a stale view reads zeros instead of faulting).
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace, PAGE_SIZE, type Region } from '../../memory/address-space.js';
import { deviceError, type DeviceError } from '../types.js';
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
  PROT_READ,
  PROT_WRITE,
  type Libc,
} from '../vhost-vdpa/libc.js';
import {
  decodeRequest,
  decodeVqInfo,
  encodeDevConfig,
  encodeName,
  encodeResponse,
  getU64,
  IOCTL,
  setU64,
  SIZEOF,
  validName,
  VDUSE_ACCESS_RO,
  VDUSE_ACCESS_WO,
  VDUSE_API_VERSION,
  VDUSE_IOVA_CAP_UMEM,
  type DevConfig,
  type VduseIoctlName,
  type VduseRequest,
  type VqInfo,
  type VqState,
} from './uapi.js';

export const O_NONBLOCK = 0o4000;
export const VDUSE_CONTROL = '/dev/vduse/control';

/** One IOTLB region mapped into this process. */
export interface IotlbMapping {
  /** IOVA range, inclusive. */
  readonly start: number;
  readonly last: number;
  readonly perm: number;
  /** User address of the mmap (what a vhost-vdpa IOTLB entry can point at). */
  readonly uaddr: number;
  readonly region: Region;
  /** The bounce area backed by this process's memory (VDUSE_IOTLB_REG_UMEM): kept across invalidations. */
  readonly umem: boolean;
}

/** struct vduse_iova_info: a region of the VDUSE IOTLB and whether it takes user memory. */
export interface IovaInfo {
  readonly start: number;
  readonly last: number;
  /** VDUSE_IOVA_CAP_UMEM: the bounce area, which VDUSE_IOTLB_REG_UMEM can back with user pages. */
  readonly umemCapable: boolean;
}

/** What the owner answers to the control messages. */
export interface VduseHandlers {
  /**
   * VDUSE_SET_STATUS: apply `status`; false answers VDUSE_REQ_RESULT_FAILED. A promise answers when it
   * settles (the kernel driver waits in its SET_STATUS for the reply): no other message is read meanwhile.
   */
  setStatus(status: number): boolean | Promise<boolean>;
  /** VDUSE_GET_VQ_STATE: the queue's position (split: availIdx only). */
  vqState(index: number): VqState | undefined;
  /** After VDUSE_UPDATE_IOTLB dropped the mappings overlapping [start, last] (already out of `space`). */
  iotlbInvalidated(dropped: readonly IotlbMapping[]): void;
}

export interface VduseCreateOptions extends DevConfig {
  /** Max size of every queue (VDUSE_VQ_SETUP). */
  readonly vqMaxSize: number;
}

const isU32 = (x: number): boolean => Number.isInteger(x) && x >= 0 && x <= 0xffffffff;

export class VduseDevice {
  readonly space: AddressSpace;
  private fd: number;
  private readonly maps: IotlbMapping[] = [];
  private readonly kickfds: number[];
  private status = 0;
  /** A SET_STATUS whose answer is still being worked out (`VduseHandlers.setStatus` returned a promise). */
  private answering = false;
  private deferredError: DeviceError | undefined;
  /** Messages answered, by type (for the tests and the report). */
  readonly messages = { getVqState: 0, setStatus: 0, updateIotlb: 0, unknown: 0, failed: 0 };

  private readonly req = new DataView(new ArrayBuffer(SIZEOF.vduse_dev_request));
  private readonly resp = new DataView(new ArrayBuffer(SIZEOF.vduse_dev_response));
  private readonly entry = new DataView(new ArrayBuffer(SIZEOF.vduse_iotlb_entry));
  private readonly info = new DataView(new ArrayBuffer(SIZEOF.vduse_vq_info));
  private readonly iovaInfo = new DataView(new ArrayBuffer(SIZEOF.vduse_iova_info));
  private readonly umemArg = new DataView(new ArrayBuffer(SIZEOF.vduse_iova_umem));
  private readonly efd = new DataView(new ArrayBuffer(SIZEOF.vduse_vq_eventfd));
  private readonly u32 = new Uint32Array(1);
  private readonly u64 = new BigUint64Array(1);
  private readonly counter = new BigUint64Array(1);

  private constructor(
    private readonly c: Libc,
    private control: number,
    readonly name: string,
    fd: number,
    readonly vqNum: number,
  ) {
    this.fd = fd;
    this.space = new AddressSpace(`iova:vduse:${name}`);
    this.kickfds = new Array<number>(vqNum).fill(-1);
  }

  /**
   * Open /dev/vduse/control, check the API version, VDUSE_CREATE_DEV, open /dev/vduse/$NAME
   * (non-blocking) and VDUSE_VQ_SETUP every queue. On any failure everything done is undone.
   */
  static create(opts: VduseCreateOptions): E.Either<DeviceError, VduseDevice> {
    const lc = libc();
    if (E.isLeft(lc)) return E.left(deviceError('unsupported', 'open', `${VDUSE_CONTROL}: ${lc.left}`));
    const c = lc.right;
    if (!validName(opts.name)) return E.left(deviceError('invalid', 'VDUSE_CREATE_DEV', `bad device name "${opts.name}"`));
    if (!isU32(opts.vqNum) || opts.vqNum < 1 || opts.vqNum > 0xffff) return E.left(deviceError('invalid', 'VDUSE_CREATE_DEV', `vq_num ${opts.vqNum}`));
    if (!Number.isInteger(opts.vqMaxSize) || opts.vqMaxSize < 1 || opts.vqMaxSize > 32768) return E.left(deviceError('invalid', 'VDUSE_VQ_SETUP', `max_size ${opts.vqMaxSize}`));
    if (opts.config.length > PAGE_SIZE) return E.left(deviceError('invalid', 'VDUSE_CREATE_DEV', `config_size ${opts.config.length}`));
    const sysFail = (op: string): E.Either<DeviceError, never> => {
      const errno = c.errno();
      return E.left(deviceError(errno === 25 || errno === 95 ? 'unsupported' : 'ioctl', op, `${op} failed: ${errnoName(errno)} (errno ${errno})`, errno, errnoName(errno)));
    };
    const control = c.open(VDUSE_CONTROL, O_RDWR | O_CLOEXEC);
    if (control < 0) return sysFail(`open(${VDUSE_CONTROL})`);
    const u64 = new BigUint64Array(1);
    if (c.ioctl(control, IOCTL.VDUSE_GET_API_VERSION, u64) < 0) {
      const e = sysFail('VDUSE_GET_API_VERSION');
      c.close(control);
      return e;
    }
    if (u64[0] !== BigInt(VDUSE_API_VERSION)) {
      c.close(control);
      return E.left(deviceError('unsupported', 'VDUSE_GET_API_VERSION', `kernel API version ${u64[0]}, this backend speaks ${VDUSE_API_VERSION}`));
    }
    u64[0] = BigInt(VDUSE_API_VERSION);
    if (c.ioctl(control, IOCTL.VDUSE_SET_API_VERSION, u64) < 0) {
      const e = sysFail('VDUSE_SET_API_VERSION');
      c.close(control);
      return e;
    }
    if (c.ioctl(control, IOCTL.VDUSE_CREATE_DEV, encodeDevConfig(opts)) < 0) {
      const e = sysFail('VDUSE_CREATE_DEV');
      c.close(control);
      return e;
    }
    const path = `/dev/vduse/${opts.name}`;
    const fd = c.open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      const e = sysFail(`open(${path})`);
      c.ioctl(control, IOCTL.VDUSE_DESTROY_DEV, encodeName(opts.name));
      c.close(control);
      return e;
    }
    const dev = new VduseDevice(c, control, opts.name, fd, opts.vqNum);
    const cfg = new DataView(new ArrayBuffer(SIZEOF.vduse_vq_config));
    for (let qi = 0; qi < opts.vqNum; qi++) {
      cfg.setUint32(0, qi, true);
      cfg.setUint16(4, opts.vqMaxSize, true);
      const r = dev.ioctl('VDUSE_VQ_SETUP', cfg);
      if (E.isLeft(r)) {
        dev.destroy();
        return r;
      }
    }
    return E.right(dev);
  }

  // ---------------------------------------------------------------------------------------------

  private fail(op: string): E.Either<DeviceError, never> {
    const errno = this.c.errno();
    const name = errnoName(errno);
    const k = errno === 25 || errno === 95 ? 'unsupported' : 'ioctl';
    return E.left(deviceError(k, op, `${op} on /dev/vduse/${this.name} failed: ${name} (errno ${errno})`, errno, name));
  }

  private ioctl(op: VduseIoctlName, arg: ArrayBufferView | null): E.Either<DeviceError, void> {
    if (this.fd < 0) return E.left(deviceError('closed', op, `${op}: /dev/vduse/${this.name} is closed`));
    return this.c.ioctl(this.fd, IOCTL[op], arg) < 0 ? this.fail(op) : E.right(undefined);
  }

  private checkQueue(op: string, qi: number): E.Either<DeviceError, void> {
    return Number.isInteger(qi) && qi >= 0 && qi < this.vqNum ? E.right(undefined) : E.left(deviceError('invalid', op, `${op}: queue ${qi} (device has ${this.vqNum})`));
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  /** The device status the kernel driver last set (answered SET_STATUS messages). */
  get deviceStatus(): number {
    return this.status;
  }

  /** The device fd, for a caller's poll(2) set (readable = a control message is waiting). */
  get pollFd(): number {
    return this.fd;
  }

  /** VDUSE_DEV_GET_FEATURES: the features the driver negotiated (valid from FEATURES_OK). */
  getFeatures(): E.Either<DeviceError, bigint> {
    return E.map(() => this.u64[0]!)(this.ioctl('VDUSE_DEV_GET_FEATURES', this.u64));
  }

  /** VDUSE_VQ_GET_INFO: ring addresses (IOVAs), size, state, ready. */
  vqInfo(qi: number): E.Either<DeviceError, VqInfo> {
    const q = this.checkQueue('VDUSE_VQ_GET_INFO', qi);
    if (E.isLeft(q)) return q;
    for (let i = 0; i < SIZEOF.vduse_vq_info; i += 4) this.info.setUint32(i, 0, true);
    this.info.setUint32(0, qi, true);
    return E.map(() => decodeVqInfo(this.info))(this.ioctl('VDUSE_VQ_GET_INFO', this.info));
  }

  /** VDUSE_VQ_SETUP_KICKFD with a fresh non-blocking eventfd (a reset drops the kernel's; call again after one). */
  setupKickfd(qi: number): E.Either<DeviceError, number> {
    const q = this.checkQueue('VDUSE_VQ_SETUP_KICKFD', qi);
    if (E.isLeft(q)) return q;
    let efd = this.kickfds[qi]!;
    if (efd < 0) {
      efd = this.c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (efd < 0) return this.fail('eventfd');
      this.kickfds[qi] = efd;
    }
    this.efd.setUint32(0, qi, true);
    this.efd.setInt32(4, efd, true);
    return E.map(() => efd)(this.ioctl('VDUSE_VQ_SETUP_KICKFD', this.efd));
  }

  /** The queue's kick eventfd (−1 before setupKickfd). */
  kickFd(qi: number): number {
    return this.kickfds[qi] ?? -1;
  }

  /** Consume a pending kick of queue `qi` (non-blocking): true when the driver kicked since the last call. */
  takeKick(qi: number): E.Either<DeviceError, boolean> {
    const efd = this.kickfds[qi] ?? -1;
    if (efd < 0) return E.right(false);
    if (this.c.read(efd, this.counter, 8) === 8) return E.right(true);
    const errno = this.c.errno();
    return errno === EAGAIN || errno === EINTR ? E.right(false) : this.fail('read(kick eventfd)');
  }

  /** VDUSE_VQ_INJECT_IRQ: interrupt the driver for queue `qi` (only valid at DRIVER_OK). */
  injectIrq(qi: number): E.Either<DeviceError, void> {
    const q = this.checkQueue('VDUSE_VQ_INJECT_IRQ', qi);
    if (E.isLeft(q)) return q;
    this.u32[0] = qi;
    return this.ioctl('VDUSE_VQ_INJECT_IRQ', this.u32);
  }

  // ---------------------------------------------------------------------------------------------
  // IOTLB

  /** The mapped region holding [iova, iova+len), if any. */
  mapping(iova: number, len = 1): IotlbMapping | undefined {
    return this.maps.find((m) => iova >= m.start && iova + len - 1 <= m.last);
  }

  mappings(): readonly IotlbMapping[] {
    return this.maps;
  }

  /**
   * Make [iova, iova+len) reachable: VDUSE_IOTLB_GET_FD for the first region overlapping it, mmap that
   * region (MAP_SHARED at the returned offset) and enter it into `space`; repeat until the range is
   * covered. Regions already mapped are reused. EINVAL from GET_FD: the kernel has no mapping there.
   */
  mapIova(iova: number, len: number): E.Either<DeviceError, readonly IotlbMapping[]> {
    const op = 'VDUSE_IOTLB_GET_FD';
    if (!Number.isSafeInteger(iova) || iova < 0 || !Number.isSafeInteger(len) || len <= 0) return E.left(deviceError('invalid', op, `range 0x${iova.toString(16)} +${len}`));
    const got: IotlbMapping[] = [];
    let cur = iova;
    const end = iova + len - 1;
    while (cur <= end) {
      const have = this.mapping(cur);
      if (have !== undefined) {
        got.push(have);
        cur = have.last + 1;
        continue;
      }
      const e = this.entry;
      for (let i = 0; i < SIZEOF.vduse_iotlb_entry; i += 4) e.setUint32(i, 0, true);
      setU64(e, 8, cur);
      setU64(e, 16, end);
      if (this.fd < 0) return E.left(deviceError('closed', op, `${op}: /dev/vduse/${this.name} is closed`));
      const mfd = this.c.ioctl(this.fd, IOCTL.VDUSE_IOTLB_GET_FD, e);
      if (mfd < 0) return this.fail(op);
      const offset = getU64(e, 0);
      const start = getU64(e, 8);
      const last = getU64(e, 16);
      const perm = e.getUint8(24);
      if (offset < 0 || start < 0 || last < start || start > cur || last - start + 1 > 2 ** 32) {
        this.c.close(mfd);
        return E.left(deviceError('iotlb', op, `${op}: region [0x${start.toString(16)}, 0x${last.toString(16)}] offset ${offset} does not cover 0x${cur.toString(16)}`));
      }
      const size = last - start + 1;
      const prot = (perm & VDUSE_ACCESS_RO ? PROT_READ : 0) | (perm & VDUSE_ACCESS_WO ? PROT_WRITE : 0);
      const ptr = this.c.mmap(null, size, prot, MAP_SHARED, mfd, offset);
      this.c.close(mfd); // the mapping keeps its own reference to the file
      const ua = this.c.address(ptr);
      if (ua === MAP_FAILED || ua === 0n) return this.fail('mmap(vduse iotlb)');
      const uaddr = Number(ua);
      const added = this.space.addRegion(start, this.c.view(ptr, size), { name: `vduse@0x${start.toString(16)}` });
      if (E.isLeft(added)) {
        this.c.munmap(uaddr, size);
        return E.left(deviceError('iotlb', op, `${op}: ${added.left.message}`));
      }
      const m: IotlbMapping = { start, last, perm, uaddr, region: added.right, umem: false };
      this.maps.push(m);
      got.push(m);
      cur = last + 1;
    }
    return E.right(got);
  }

  /**
   * VDUSE_IOTLB_GET_INFO: the first IOTLB region overlapping [start, last]. EINVAL: none (the bounce area
   * appears with the driver's first streaming DMA mapping).
   */
  iotlbInfo(start: number, last: number): E.Either<DeviceError, IovaInfo> {
    const v = this.iovaInfo;
    for (let i = 0; i < SIZEOF.vduse_iova_info; i += 4) v.setUint32(i, 0, true);
    setU64(v, 0, start);
    setU64(v, 8, last);
    return E.map(() => ({ start: getU64(v, 0), last: getU64(v, 8), umemCapable: (v.getUint32(16, true) & VDUSE_IOVA_CAP_UMEM) !== 0 }))(this.ioctl('VDUSE_IOTLB_GET_INFO', v));
  }

  /**
   * VDUSE_IOTLB_REG_UMEM: back the bounce area [0, size) with this process's pages at `uaddr` (`buffer`
   * is their view). The kernel pins them (RLIMIT_MEMLOCK applies) and from then on bounces streaming DMA
   * through them, so another device can be given these pages. Needs the bounce area to exist
   * (EINVAL before the driver's first DMA mapping) and `size` = the device's bounce_size.
   */
  registerUmem(uaddr: number, buffer: ArrayBufferLike, offset: number, size: number): E.Either<DeviceError, IotlbMapping> {
    const op = 'VDUSE_IOTLB_REG_UMEM';
    if (this.maps.some((m) => m.umem)) return E.left(deviceError('state', op, `${op}: user memory already registered`));
    if (!Number.isSafeInteger(uaddr) || uaddr % PAGE_SIZE !== 0 || size <= 0 || size % PAGE_SIZE !== 0) return E.left(deviceError('invalid', op, `${op}: uaddr 0x${uaddr.toString(16)} size ${size}`));
    const v = this.umemArg;
    for (let i = 0; i < SIZEOF.vduse_iova_umem; i += 4) v.setUint32(i, 0, true);
    setU64(v, 0, uaddr);
    setU64(v, 8, 0);
    setU64(v, 16, size);
    const r = this.ioctl(op, v);
    if (E.isLeft(r)) return r;
    // a kernel-page view of the bounce area fetched earlier is stale now (its pages fault with SIGBUS)
    for (let i = this.maps.length - 1; i >= 0; i--) {
      const m = this.maps[i]!;
      if (m.start < size) {
        this.maps.splice(i, 1);
        this.space.removeRegion(m.start);
        this.release(m);
      }
    }
    const added = this.space.addRegion(0, buffer, { offset, size, name: 'vduse-umem@0x0' });
    if (E.isLeft(added)) return E.left(deviceError('iotlb', op, `${op}: ${added.left.message}`));
    const m: IotlbMapping = { start: 0, last: size - 1, perm: VDUSE_ACCESS_RO | VDUSE_ACCESS_WO, uaddr, region: added.right, umem: true };
    this.maps.push(m);
    return E.right(m);
  }

  /** The registered user bounce memory, if any. */
  get umem(): IotlbMapping | undefined {
    return this.maps.find((m) => m.umem);
  }

  /**
   * Drop every mapping overlapping [start, last]: out of `space`, pages replaced by a private mapping.
   * User bounce memory stays (it is this process's, and VDUSE keeps using it after a reset).
   */
  unmapIova(start: number, last: number): IotlbMapping[] {
    const dropped: IotlbMapping[] = [];
    for (let i = this.maps.length - 1; i >= 0; i--) {
      const m = this.maps[i]!;
      if (m.start > last || m.last < start || m.umem) continue;
      this.maps.splice(i, 1);
      this.space.removeRegion(m.start);
      this.release(m);
      dropped.push(m);
    }
    return dropped;
  }

  private release(m: IotlbMapping): void {
    const size = m.last - m.start + 1;
    this.c.mmap(m.uaddr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // control messages

  /**
   * Read and answer every control message waiting on the (non-blocking) device fd. Returns how many
   * were answered. A read error other than EAGAIN, or a short read/write, is a typed error.
   */
  pollMessages(h: VduseHandlers): E.Either<DeviceError, number> {
    let n = 0;
    for (;;) {
      if (this.deferredError !== undefined) {
        const e = this.deferredError;
        this.deferredError = undefined;
        return E.left(e);
      }
      // a SET_STATUS still being answered: the kernel sends nothing else until it has the reply
      if (this.fd < 0 || this.answering) return E.right(n);
      const got = this.c.read(this.fd, this.req, SIZEOF.vduse_dev_request);
      if (got < 0) {
        const errno = this.c.errno();
        if (errno === EAGAIN || errno === EINTR) return E.right(n);
        return this.fail('read(vduse request)');
      }
      if (got !== SIZEOF.vduse_dev_request) return E.left(deviceError('ioctl', 'read(vduse request)', `short read ${got}/${SIZEOF.vduse_dev_request}`));
      const r = this.answer(decodeRequest(this.req), h);
      if (E.isLeft(r)) return r;
      n++;
    }
  }

  private answer(req: VduseRequest, h: VduseHandlers): E.Either<DeviceError, void> {
    let ok = true;
    let vq: { index: number; packed: boolean; state: VqState } | undefined;
    switch (req.type) {
      case 1: {
        // VDUSE_SET_STATUS
        this.messages.setStatus++;
        const status = req.status;
        const r = h.setStatus(status);
        if (typeof r !== 'boolean') {
          this.answering = true;
          void r.then(
            (done) => this.settleStatus(req, status, done),
            () => this.settleStatus(req, status, false),
          );
          return E.right(undefined);
        }
        ok = r;
        if (ok) this.status = req.status;
        break;
      }
      case 0: {
        // VDUSE_GET_VQ_STATE
        this.messages.getVqState++;
        const st = req.index < this.vqNum ? h.vqState(req.index) : undefined;
        const feats = this.getFeatures();
        const packed = E.isRight(feats) && (feats.right & (1n << 34n)) !== 0n;
        if (st === undefined) ok = false;
        else vq = { index: req.index, packed, state: st };
        break;
      }
      case 2: {
        // VDUSE_UPDATE_IOTLB: the range is gone or changed; fetch it again when next needed
        this.messages.updateIotlb++;
        h.iotlbInvalidated(this.unmapIova(req.start, req.last));
        break;
      }
      default:
        this.messages.unknown++;
        ok = false;
    }
    return this.respond(req, ok, vq);
  }

  /** The deferred answer to a SET_STATUS; a failed write is returned by the next `pollMessages`. */
  private settleStatus(req: VduseRequest, status: number, ok: boolean): void {
    this.answering = false;
    if (ok) this.status = status;
    if (this.fd < 0) return;
    const w = this.respond(req, ok, undefined);
    if (E.isLeft(w)) this.deferredError ??= w.left;
  }

  private respond(req: VduseRequest, ok: boolean, vq: { index: number; packed: boolean; state: VqState } | undefined): E.Either<DeviceError, void> {
    if (!ok) this.messages.failed++;
    encodeResponse(this.resp, req.requestId, ok, vq);
    const w = this.c.write(this.fd, this.resp, SIZEOF.vduse_dev_response);
    if (w < 0) return this.fail('write(vduse response)');
    if (w !== SIZEOF.vduse_dev_response) return E.left(deviceError('ioctl', 'write(vduse response)', `short write ${w}/${SIZEOF.vduse_dev_response}`));
    return E.right(undefined);
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Tear down: unmap every region, close the kick eventfds and the device fd, VDUSE_DESTROY_DEV, close the
   * control fd. The vdpa device must be deleted first (`vdpa dev del`): DESTROY_DEV is EBUSY while it is
   * attached. Returns the first error; always releases everything it can. Idempotent.
   */
  destroy(): E.Either<DeviceError, void> {
    let first: E.Either<DeviceError, void> = E.right(undefined);
    const um = this.umem;
    if (um !== undefined && this.fd >= 0) {
      const v = this.umemArg;
      for (let i = 0; i < SIZEOF.vduse_iova_umem; i += 4) v.setUint32(i, 0, true);
      setU64(v, 0, um.uaddr);
      setU64(v, 16, um.last + 1);
      const r = this.ioctl('VDUSE_IOTLB_DEREG_UMEM', v);
      if (E.isLeft(r)) first = r;
    }
    if (um !== undefined) {
      this.maps.splice(this.maps.indexOf(um), 1);
      this.space.removeRegion(0);
    }
    this.unmapIova(0, Number.MAX_SAFE_INTEGER);
    for (let qi = 0; qi < this.kickfds.length; qi++) {
      if (this.kickfds[qi]! >= 0) this.c.close(this.kickfds[qi]!);
      this.kickfds[qi] = -1;
    }
    if (this.fd >= 0) {
      this.c.close(this.fd);
      this.fd = -1;
    }
    if (this.control >= 0) {
      if (this.c.ioctl(this.control, IOCTL.VDUSE_DESTROY_DEV, encodeName(this.name)) < 0) {
        const errno = this.c.errno();
        first = E.left(deviceError('ioctl', 'VDUSE_DESTROY_DEV', `VDUSE_DESTROY_DEV ${this.name} failed: ${errnoName(errno)} (errno ${errno})`, errno, errnoName(errno)));
      }
      this.c.close(this.control);
      this.control = -1;
    }
    return first;
  }
}

/** Create a VDUSE device (see VduseDevice.create). */
export const createVduse = (opts: VduseCreateOptions): E.Either<DeviceError, VduseDevice> => VduseDevice.create(opts);
