/**
 * The two ends of a migration and the stream between them, as QEMU has them for a vhost-vdpa NIC:
 *
 *  - source: the device brought up by the guest's driver (status §3.1.1, features, CVQ alone in its
 *    own ASID as QEMU's `vhost_vdpa_net_cvq_start` puts it, data queues on guest rings in guest RAM at
 *    IOVA = GPA), its state configured by the guest through the CVQ, live traffic on every queue pair;
 *    an `SvqBackend` (src/effects/svq.ts) ready to shadow the data queues, and a dirty log over guest RAM.
 *  - destination: a second device, opened and owned, plus the RAM the incoming stream fills.
 *  - stream: copies guest pages into the destination's RAM and keeps simulated time — a link of
 *    `bandwidth` bytes/µs, the guest sending `rate` frames/µs while a round is on the wire.
 *
 * Every device step goes through the effects of src/effects (lifecycle, CVQ engine through
 * machines/cvq-command, data path, SVQ back-end); nothing here talks to a device behind their back.
 */
import * as E from 'fp-ts/lib/Either.js';
import { PAGE_SIZE, type Region } from '../memory/address-space.js';
import { SimVdpaDevice } from '../device/sim/device.js';
import { hdrLenOf } from '../device/sim/rx-filter.js';
import { VHOST_ACCESS_RW, type VdpaDevice } from '../device/types.js';
import { CvqEngine } from '../cvq/engine.js';
import { createShadowCvq, programShadowCvq, type ShadowCvq } from '../cvq/shadow.js';
import { createDataPath, GUEST_RAM_GPA, type DataPath } from '../effects/datapath.js';
import { lifecycleEffects, type LifecycleEffects } from '../effects/lifecycle.js';
import { runCvqCommands, toCvqCommand } from '../effects/cvq.js';
import { SvqBackend } from '../effects/svq.js';
import { DirtyLog } from '../svq/dirty-log.js';
import { applyCommand } from '../state/apply.js';
import { STATUS, negotiate } from '../state/lifecycle.js';
import { DEFAULT_LIMITS, resetNetState, vlanList, type DeviceLimits, type NetDeviceState } from '../state/net-state.js';
import { planRestore } from '../state/plan.js';
import { formatMac, NET_CONFIG, ETH_ALEN } from '../virtio/net.js';
import { hasFeature } from '../virtio/features.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import { GuestNet } from './guest.js';

export interface MigrateError {
  readonly _tag: 'MigrateError';
  /** Where it happened: "source bring-up", "stream", a phase name … */
  readonly where: string;
  readonly message: string;
}
export const migrateError = (where: string, message: string): MigrateError => ({ _tag: 'MigrateError', where, message });

/** Reject with a MigrateError from whatever an effect failed with. */
const text = (e: unknown): string => (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : String(e));

export const ACK_TIMEOUT_MS = 1000;

/** Reset, ACKNOWLEDGE, DRIVER, negotiate `wanted` against the offer, FEATURES_OK and its re-read (§3.1.1 1-6). */
export async function negotiateDevice(fx: LifecycleEffects, wanted: bigint, signal: AbortSignal): Promise<bigint> {
  // a cancelled negotiation stops between steps: the rollback owns the device from then on
  const step = async <T>(p: Promise<T>): Promise<T> => {
    const v = await p;
    if (signal.aborted) throw migrateError('negotiation', 'cancelled');
    return v;
  };
  await step(fx.resetDevice({ timeoutMs: 1000 }, signal));
  await step(fx.writeStatus({ status: STATUS.ACKNOWLEDGE }, signal));
  await step(fx.writeStatus({ status: STATUS.ACKNOWLEDGE | STATUS.DRIVER }, signal));
  const offered = BigInt((await step(fx.readFeatures(undefined, signal))).features);
  const n = negotiate(offered, wanted);
  if (E.isLeft(n)) throw migrateError('negotiation', n.left.message);
  await step(fx.writeFeatures({ features: `0x${n.right.toString(16)}` }, signal));
  const s = STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK;
  await step(fx.writeStatus({ status: s }, signal));
  const back = (await step(fx.readStatus(undefined, signal))).status;
  if ((back & STATUS.FEATURES_OK) === 0) throw migrateError('negotiation', `the device cleared FEATURES_OK: it refuses features 0x${n.right.toString(16)}`);
  return n.right;
}

/** Own the device and acknowledge every backend feature it offers (VHOST_SET_BACKEND_FEATURES). */
export function ownDevice(dev: VdpaDevice): E.Either<MigrateError, bigint> {
  const o = dev.setOwner();
  if (E.isLeft(o)) return E.left(migrateError('open', o.left.message));
  const b = dev.getBackendFeatures();
  if (E.isLeft(b)) return E.left(migrateError('open', b.left.message));
  const s = dev.setBackendFeatures(b.right);
  return E.isLeft(s) ? E.left(migrateError('open', s.left.message)) : E.right(b.right);
}

/** The control queue's index: 2 × max_virtqueue_pairs with MQ (§5.1.2), else 2. */
export function cvqIndexOf(dev: VdpaDevice, negotiated: bigint): E.Either<MigrateError, number> {
  if (!hasFeature(negotiated, 'MQ')) return E.right(2);
  const c = dev.getConfig(NET_CONFIG.maxVirtqueuePairs, 2);
  if (E.isLeft(c)) return E.left(migrateError('config', c.left.message));
  return E.right(2 * (c.right[0]! | (c.right[1]! << 8)));
}

/** Put the CVQ's group in ASID 1 when the device has one to give (QEMU's shadow CVQ isolation). */
function isolateCvq(dev: VdpaDevice, cvq: number): number {
  const as = dev.getAsNum();
  const groups = dev.getGroupNum();
  const g = dev.getVringGroup(cvq);
  if (E.isLeft(as) || E.isLeft(groups) || E.isLeft(g) || as.right < 2 || groups.right < 2 || g.right === 0) return 0;
  return E.isRight(dev.setGroupAsid(g.right, 1)) ? 1 : 0;
}

export interface Cvq {
  readonly qi: number;
  readonly shadow: ShadowCvq;
  readonly engine: CvqEngine;
}

/** Shadow CVQ on its own ASID (before DRIVER_OK), programmed on the device. */
export function setUpCvq(dev: VdpaDevice, negotiated: bigint): E.Either<MigrateError, Cvq> {
  const qi = cvqIndexOf(dev, negotiated);
  if (E.isLeft(qi)) return qi;
  const asid = isolateCvq(dev, qi.right);
  const shadow = createShadowCvq(dev, { qi: qi.right, negotiated, asid, size: Math.min(256, E.getOrElse(() => 256)(dev.getVringNum())), outBytes: 64 * 1024 });
  if (E.isLeft(shadow)) return E.left(migrateError('shadow CVQ', shadow.left.message));
  const p = programShadowCvq(dev, shadow.right);
  if (E.isLeft(p)) return E.left(migrateError('shadow CVQ', p.left.message));
  return E.right({ qi: qi.right, shadow: shadow.right, engine: new CvqEngine(dev, shadow.right) });
}

/** The device limits a sim reports in config space (RSS maxima etc.), for applying acked commands. */
export function limitsOf(dev: VdpaDevice): DeviceLimits {
  const c = dev.getConfig(0, NET_CONFIG.size);
  if (E.isLeft(c) || c.right.length < NET_CONFIG.size) return DEFAULT_LIMITS;
  const b = c.right;
  const u16 = (o: number) => b[o]! | (b[o + 1]! << 8);
  return {
    ...DEFAULT_LIMITS,
    maxQueuePairs: Math.max(1, u16(NET_CONFIG.maxVirtqueuePairs)),
    rssMaxKeySize: b[NET_CONFIG.rssMaxKeySize]!,
    rssMaxIndirectionTableLength: u16(NET_CONFIG.rssMaxIndirectionTableLength),
    supportedHashTypes: (b[NET_CONFIG.supportedHashTypes]! | (b[NET_CONFIG.supportedHashTypes + 1]! << 8) | (b[NET_CONFIG.supportedHashTypes + 2]! << 16) | (b[NET_CONFIG.supportedHashTypes + 3]! << 24)) >>> 0,
  };
}

/** The MAC the device shows in config space. */
export function configMac(dev: VdpaDevice): string | undefined {
  const c = dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
  return E.isRight(c) ? formatMac(c.right) : undefined;
}

// ---------------------------------------------------------------------------------------------------

export interface SourceOptions {
  /** Features the guest driver wants. */
  readonly wanted: bigint;
  /** The state the guest configures through its CVQ. */
  readonly state: NetDeviceState;
  readonly strategy: CvqStrategy;
  readonly queueSize: number;
  readonly ramBytes: number;
}

export interface Source {
  readonly dev: VdpaDevice;
  readonly fx: LifecycleEffects;
  readonly offered: bigint;
  readonly negotiated: bigint;
  readonly backendFeatures: bigint;
  readonly cvq: Cvq;
  readonly path: DataPath;
  readonly backend: SvqBackend;
  readonly dirty: DirtyLog;
  readonly guest: GuestNet;
  /** The guest's device state as the device acked it (applied command by command). */
  model: NetDeviceState;
  /** Data queues of the active pairs (what SVQ shadows and the record carries). */
  readonly dataQueues: readonly number[];
}

/**
 * Bring the source up the way a guest driver and QEMU do: negotiate, shadow CVQ in its own ASID, data
 * queues on guest rings, DRIVER_OK; then the guest configures its state through the CVQ (every
 * command acked, or the bring-up fails naming it), and fills its RX rings.
 */
export async function bringUpSource(dev: VdpaDevice, o: SourceOptions, signal: AbortSignal): Promise<E.Either<MigrateError, Source>> {
  try {
    const backendFeatures = ownDevice(dev);
    if (E.isLeft(backendFeatures)) return backendFeatures;
    const fx = lifecycleEffects(dev);
    const offered = BigInt((await fx.readFeatures(undefined, signal)).features);
    const negotiated = await negotiateDevice(fx, o.wanted, signal);
    const cvq = setUpCvq(dev, negotiated);
    if (E.isLeft(cvq)) return cvq;
    const pairs = hasFeature(negotiated, 'MQ') ? o.state.queuePairs : 1;
    const maxPairs = cvq.right.qi / 2;
    if (pairs > maxPairs) return E.left(migrateError('source bring-up', `the state has ${pairs} queue pairs, the device ${maxPairs}`));
    const dataQueues = Array.from({ length: 2 * pairs }, (_, i) => i);
    const path = createDataPath(dev, { queues: dataQueues, size: o.queueSize, negotiated, ramBytes: o.ramBytes });
    if (E.isLeft(path)) return E.left(migrateError('source data path', path.left.message));
    await fx.writeStatus({ status: STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK }, signal);

    // the guest configures its NIC: the restore plan of its state is exactly the commands that build it
    const limits = limitsOf(dev);
    const plan = planRestore(o.state, negotiated);
    const out = await runCvqCommands(cvq.right.engine, plan.map(toCvqCommand), { strategy: o.strategy, ackTimeoutMs: ACK_TIMEOUT_MS });
    let model = resetNetState(configMac(dev) ?? o.state.mac, negotiated);
    for (let i = 0; i < out.applied; i++) {
      const r = applyCommand(model, negotiated, limits, plan[i]!.cmd);
      if (E.isRight(r)) model = r.right;
    }
    if (!out.ok) return E.left(migrateError('guest configuration', out.failure?.message ?? 'CVQ commands failed'));

    const dirty = DirtyLog.forSpace(path.right.gpa);
    const backend = new SvqBackend(path.right, { dirty });
    const vlans = hasFeature(negotiated, 'CTRL_VLAN') ? vlanList(model.vlanFilter) : [];
    const guest = new GuestNet(path.right, {
      pairs,
      hdrLen: hdrLenOf(negotiated),
      mac: model.mac,
      vlans,
      notify: (qi) => void backend.notify(qi),
    });
    guest.refill();
    return E.right({ dev, fx, offered, negotiated, backendFeatures: backendFeatures.right, cvq: cvq.right, path: path.right, backend, dirty, guest, model, dataQueues });
  } catch (e) {
    return E.left(migrateError('source bring-up', text(e)));
  }
}

// ---------------------------------------------------------------------------------------------------

export interface Destination {
  readonly dev: VdpaDevice;
  readonly fx: LifecycleEffects;
  readonly backendFeatures: bigint;
  /** Guest RAM as the incoming stream fills it. */
  readonly ram: Region;
  cvq: Cvq | undefined;
  /** The device state as the destination's acked CVQ commands built it. */
  model: NetDeviceState | undefined;
  /** Guest RAM is mapped in the data ASID (IOVA = GPA). */
  ramMapped: { readonly hva: number; readonly size: number } | undefined;
}

export function openDestination(dev: VdpaDevice, ramBytes: number): E.Either<MigrateError, Destination> {
  const b = ownDevice(dev);
  if (E.isLeft(b)) return b;
  const ram = dev.allocHost(ramBytes, 'incoming-ram');
  if (E.isLeft(ram)) return E.left(migrateError('destination RAM', ram.left.message));
  return E.right({ dev, fx: lifecycleEffects(dev), backendFeatures: b.right, ram: ram.right, cvq: undefined, model: undefined, ramMapped: undefined });
}

/**
 * The guest's memory as the destination device gets it. A simulated destination in this process is
 * handed the very buffer the guest driver runs on, once the stream has proven its copy byte-identical
 * (the guest driver's private ring state lives in JS objects bound to that buffer, so the vCPU cannot
 * move to another one); a real device gets the incoming copy.
 */
export function guestRamFor(dst: Destination, src: Source): { hva: number; size: number } {
  const ram = src.path.ram;
  if (dst.dev instanceof SimVdpaDevice) {
    const hva = dst.ram.base + 0x10_0000_0000;
    const found = dst.dev.host.find(hva, ram.size);
    if (found === undefined) {
      const r = dst.dev.host.addRegion(hva, ram.buffer, { offset: ram.offset, size: ram.size, name: 'guest-ram (migrated)' });
      if (E.isLeft(r)) return { hva: dst.ram.base, size: dst.ram.size };
    }
    return { hva, size: ram.size };
  }
  return { hva: dst.ram.base, size: dst.ram.size };
}

export function mapGuestRam(dst: Destination, where: { hva: number; size: number }): E.Either<MigrateError, void> {
  if (dst.ramMapped !== undefined) return E.right(undefined);
  const m = dst.dev.iotlbUpdate(0, GUEST_RAM_GPA, where.size, where.hva, VHOST_ACCESS_RW);
  if (E.isLeft(m)) return E.left(migrateError('destination IOTLB', m.left.message));
  dst.ramMapped = where;
  return E.right(undefined);
}

// ---------------------------------------------------------------------------------------------------

export interface StreamOptions {
  /** Link bandwidth, bytes per simulated µs (1250 = 10 Gb/s). */
  readonly bandwidth: number;
  /** Guest frames per simulated µs while precopy runs. */
  readonly rate: number;
}

/** The migration stream: guest pages from the source's RAM into the destination's, on a simulated clock. */
export class MigrationStream {
  /** Simulated µs spent on the wire. */
  wireUs = 0;
  pagesCopied = 0;
  bytesCopied = 0;

  constructor(
    readonly src: Region,
    readonly dst: Region,
    readonly opts: StreamOptions,
  ) {
    if (dst.size < src.size) throw new RangeError(`destination RAM (${dst.size} bytes) is smaller than the guest's (${src.size})`);
  }

  get pages(): number {
    return Math.ceil(this.src.size / PAGE_SIZE);
  }

  /** Send pages (guest-physical addresses) and account their time on the wire; returns the µs taken. */
  sendPages(gpas: readonly number[]): number {
    const s = this.src.bytes;
    const d = this.dst.bytes;
    for (const gpa of gpas) {
      const o = gpa - GUEST_RAM_GPA;
      const end = Math.min(o + PAGE_SIZE, this.src.size);
      d.set(s.subarray(o, end), o);
    }
    return this.account(gpas.length * PAGE_SIZE, gpas.length);
  }

  /** The bulk stage: every page of guest RAM. */
  sendAll(): number {
    this.dst.bytes.set(this.src.bytes);
    return this.account(this.src.size, this.pages);
  }

  /** Non-page data (the device record) on the wire. */
  sendBytes(n: number): number {
    return this.account(n, 0);
  }

  private account(bytes: number, pages: number): number {
    this.pagesCopied += pages;
    this.bytesCopied += bytes;
    const us = bytes / this.opts.bandwidth;
    this.wireUs += us;
    return us;
  }

  /** First differing page (guest-physical address) between the guest's RAM and the copy, or -1. */
  firstDifference(): number {
    const a = Buffer.from(this.src.buffer, this.src.offset, this.src.size);
    const b = Buffer.from(this.dst.buffer, this.dst.offset, this.src.size);
    if (a.equals(b)) return -1;
    for (let o = 0; o < this.src.size; o += PAGE_SIZE) {
      const n = Math.min(PAGE_SIZE, this.src.size - o);
      if (!a.subarray(o, o + n).equals(b.subarray(o, o + n))) return GUEST_RAM_GPA + o;
    }
    return -1;
  }
}

/** One macrotask: lets the device's deferred processing and SVQ's call pump run. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Run the guest for `frames` frames: send as the rings allow, poll completions, until every frame sent
 * has come back (or no progress for `stallTicks` macrotasks — an error the caller reports).
 */
export async function runTraffic(guest: GuestNet, frames: number, signal?: AbortSignal, stallTicks = 2000): Promise<E.Either<MigrateError, number>> {
  let left = frames;
  let idle = 0;
  while ((left > 0 || guest.outstanding() > 0) && signal?.aborted !== true) {
    let progress = 0;
    if (left > 0) {
      const s = guest.send(Math.min(left, 512));
      left -= s;
      progress += s;
    }
    await tick();
    progress += guest.poll();
    if (guest.errorTotal() > 0) return E.left(migrateError('guest traffic', guest.errors[0]!));
    if (progress === 0) {
      if (++idle >= stallTicks) return E.left(migrateError('guest traffic', `no progress: ${guest.outstanding()} frame(s) sent and not received`));
    } else idle = 0;
  }
  return E.right(frames - left);
}
