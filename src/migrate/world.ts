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
import { hasCapability } from '../device/registry.js';
import { hdrLenOf } from '../device/sim/rx-filter.js';
import type { VdpaDevice } from '../device/types.js';
import type { RingAddrs } from '../ring/types.js';
import { createDataPath, GUEST_RAM_GPA, type DataPath } from '../effects/datapath.js';
import { startDevice } from '../effects/lifecycle.js';
import { runCvqCommands } from '../effects/cvq.js';
import type { DestinationSide, DeviceProbe, SourceSide } from '../effects/migration.js';
import { SvqBackend, svqSwitchEffects, type SvqThreads } from '../effects/svq.js';
import { createActor, waitFor, type InspectionEvent } from 'xstate';
import { bind } from '../../machines/contract.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { ACK_TIMEOUT_MS, configMac, limitsOf, migrateError, ownDevice, setUpCvq, type Cvq, type MigrateError } from '../effects/vdpa-net.js';
import { DirtyLog } from '../svq/dirty-log.js';
import { applyAll } from '../state/apply.js';
import { resetNetState, vlanList, type NetDeviceState } from '../state/net-state.js';
import { planRestore, toCvqCommand } from '../state/plan.js';
import { hasFeature } from '../virtio/features.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import { GuestNet } from './guest.js';

export { ACK_TIMEOUT_MS, configMac, limitsOf, migrateError, ownDevice, setUpCvq, type Cvq, type MigrateError } from '../effects/vdpa-net.js';

/** Reject with a MigrateError from whatever an effect failed with. */
const text = (e: unknown): string => (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : String(e));

// ---------------------------------------------------------------------------------------------------

export interface SourceOptions {
  /** Features the guest driver wants. */
  readonly wanted: bigint;
  /** The state the guest configures through its CVQ. */
  readonly state: NetDeviceState;
  readonly strategy: CvqStrategy;
  readonly queueSize: number;
  readonly ramBytes: number;
  /** Where SVQ forwarding runs (`SvqThreads`); per-queue-pair needs a device with shared host memory. */
  readonly svqThreads?: SvqThreads;
}

export interface Source {
  readonly dev: VdpaDevice;
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
    // the guest driver's bring-up through machines/device-lifecycle; its step 7 (before DRIVER_OK):
    // the shadow CVQ in its own ASID, the data queues on guest rings
    const started = await startDevice(dev, { wanted: o.wanted }, (negotiated) => {
      const cvq = setUpCvq(dev, negotiated);
      if (E.isLeft(cvq)) return cvq;
      const pairs = hasFeature(negotiated, 'MQ') ? o.state.queuePairs : 1;
      const maxPairs = cvq.right.qi / 2;
      if (pairs > maxPairs) return E.left(migrateError('source bring-up', `the state has ${pairs} queue pairs, the device ${maxPairs}`));
      const dataQueues = Array.from({ length: 2 * pairs }, (_, i) => i);
      const path = createDataPath(dev, { queues: dataQueues, size: o.queueSize, negotiated, ramBytes: o.ramBytes });
      if (E.isLeft(path)) return E.left(migrateError('source data path', path.left.message));
      return E.right({ cvq: cvq.right, pairs, dataQueues, path: path.right });
    });
    if (E.isLeft(started)) return E.left(migrateError('source bring-up', started.left.message));
    // the bring-up's lifecycle actor has done its part: the migration's own device-lifecycle attaches later
    started.right.actor.stop();
    const { offered, negotiated } = started.right;
    const { cvq, pairs, dataQueues, path } = started.right.setup;
    if (signal.aborted) return E.left(migrateError('source bring-up', 'cancelled'));

    // the guest configures its NIC: the restore plan of its state is exactly the commands that build it
    const limits = limitsOf(dev);
    if (E.isLeft(limits)) return limits;
    const mac = configMac(dev, negotiated, o.state.mac);
    if (E.isLeft(mac)) return mac;
    const plan = planRestore(o.state, negotiated);
    const out = await runCvqCommands(cvq.engine, plan.map(toCvqCommand), { strategy: o.strategy, ackTimeoutMs: ACK_TIMEOUT_MS });
    if (!out.ok) return E.left(migrateError('guest configuration', out.failure?.message ?? 'CVQ commands failed'));
    const acked = applyAll(resetNetState(mac.right, negotiated), negotiated, limits.right, plan.slice(0, out.applied).map((c) => c.cmd));
    if (E.isLeft(acked)) return E.left(migrateError('guest configuration', `the device acked ${plan[acked.left.index]?.name ?? '?'} but the model refuses it: ${acked.left.message}`));
    const model = acked.right;

    const dirty = DirtyLog.forSpace(path.gpa);
    const backend = new SvqBackend(path, { dirty, ...(o.svqThreads === undefined ? {} : { svqThreads: o.svqThreads }) });
    const vlans = hasFeature(negotiated, 'CTRL_VLAN') ? vlanList(model.vlanFilter) : [];
    const guest = new GuestNet(path, {
      pairs,
      hdrLen: hdrLenOf(negotiated),
      mac: model.mac,
      vlans,
      notify: (qi) => void backend.notify(qi),
    });
    guest.refill();
    return E.right({ dev, offered, negotiated, backendFeatures: backendFeatures.right, cvq, path, backend, dirty, guest, model, dataQueues });
  } catch (e) {
    return E.left(migrateError('source bring-up', text(e)));
  }
}

// ---------------------------------------------------------------------------------------------------

export interface Destination {
  readonly dev: VdpaDevice;
  readonly backendFeatures: bigint;
  /** Guest RAM as the incoming stream fills it. */
  readonly ram: Region;
}

export function openDestination(dev: VdpaDevice, ramBytes: number): E.Either<MigrateError, Destination> {
  const b = ownDevice(dev);
  if (E.isLeft(b)) return b;
  const ram = dev.allocHost(ramBytes, 'incoming-ram');
  if (E.isLeft(ram)) return E.left(migrateError('destination RAM', ram.left.message));
  return E.right({ dev, backendFeatures: b.right, ram: ram.right });
}

/** The simulator's clock, ack counters and own state (undefined for a kernel device). */
export function probeOf(dev: VdpaDevice): DeviceProbe | undefined {
  if (!hasCapability(dev, 'probe') || !hasCapability(dev, 'netState')) return undefined;
  return { now: () => dev.clock.now, acks: () => ({ ok: dev.stats.acksOk, err: dev.stats.acksErr }), netState: () => dev.netState() };
}

/**
 * The guest's memory as the destination device gets it. A simulated destination in this process is
 * handed the very buffer the guest driver runs on, once the stream has proven its copy byte-identical
 * (the guest driver's private ring state lives in JS objects bound to that buffer, so the vCPU cannot
 * move to another one); a real device gets the incoming copy.
 */
export function guestRamFor(dst: Destination, src: Source): { hva: number; size: number } {
  const ram = src.path.ram;
  const dev = dst.dev;
  if (hasCapability(dev, 'sharedHostMemory')) {
    const hva = dst.ram.base + 0x10_0000_0000;
    const found = dev.host.find(hva, ram.size);
    if (found === undefined) {
      const r = dev.host.addRegion(hva, ram.buffer, { offset: ram.offset, size: ram.size, name: 'guest-ram (migrated)' });
      if (E.isLeft(r)) return { hva: dst.ram.base, size: dst.ram.size };
    }
    return { hva, size: ram.size };
  }
  return { hva: dst.ram.base, size: dst.ram.size };
}

/** The guest's rings (queue index → size and guest-physical addresses): what the destination resumes on. */
export const guestRingsOf = (path: DataPath): ReadonlyMap<number, { readonly size: number; readonly addrs: RingAddrs }> =>
  new Map(path.queues.map((q) => [q.qi, { size: q.config.size, addrs: q.config.addrs }] as const));

/** The destination end for src/effects/migration: the guest's rings and RAM as the source left them. */
export const destinationSideOf = (dst: Destination, src: Source): DestinationSide => {
  const probe = probeOf(dst.dev);
  return { dev: dst.dev, rings: guestRingsOf(src.path), guestRam: () => guestRamFor(dst, src), ...(probe === undefined ? {} : { probe }) };
};

export interface SourceRunOptions {
  /** Guest frames per simulated µs while a round is on the wire (the guest keeps running). */
  readonly rate: number;
  /** At most this many frames per round (bounds a demo's run time; default 200 000). */
  readonly maxFramesPerRound?: number;
  /** Frames the guest sends right before vm_stop, still in flight at suspend (default 256). */
  readonly inFlightAtStop?: number;
}

/** The source end for src/effects/migration: the guest sends `rate` frames per µs a round is on the wire. */
export function sourceSideOf(src: Source, stream: MigrationStream, o: SourceRunOptions): SourceSide {
  const maxFrames = o.maxFramesPerRound ?? 200_000;
  const dev = src.dev;
  return {
    dev,
    backend: src.backend,
    dirty: src.dirty,
    negotiated: src.negotiated,
    dataQueues: src.dataQueues,
    // the simulator shows the state it holds; a kernel device's is what its acked commands built
    deviceState: () => (hasCapability(dev, 'netState') ? dev.netState() : src.model),
    stream,
    guest: {
      async run(round, wireUs, signal) {
        const t = await runTraffic(src.guest, Math.min(maxFrames, Math.round(o.rate * wireUs)), signal);
        if (E.isLeft(t)) throw migrateError('precopy', `round ${round}: ${t.left.message}`);
        return t.right;
      },
      burst: () => src.guest.send(o.inFlightAtStop ?? 256),
      outstanding: () => src.guest.outstanding(),
    },
  };
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

/**
 * QEMU's x-svq=on: the source's data queues switched to SVQ through machines/svq-switch (ENABLE,
 * trigger `x-svq`) before anything migrates; a migration then finds them shadowed and leaves them so.
 */
export async function forceSvq(src: Source, o: { readonly inspect?: (e: InspectionEvent) => void; readonly timeoutMs?: number } = {}): Promise<E.Either<MigrateError, void>> {
  if (src.backend.mode === 'shadow') return E.right(undefined);
  const actor = createActor(bind(svqSwitchMachine, svqSwitchEffects(src.backend)), {
    input: { queues: src.dataQueues },
    ...(o.inspect === undefined ? {} : { inspect: o.inspect }),
  });
  actor.start();
  actor.send({ type: 'ENABLE', trigger: 'x-svq' });
  try {
    const s = await waitFor(actor, (x) => x.matches('shadow') || x.matches('failed') || (x.matches('passthrough') && x.context.error !== null), { timeout: o.timeoutMs ?? 30_000 });
    return s.matches('shadow') ? E.right(undefined) : E.left(migrateError('x-svq', `switching the data queues to SVQ: ${s.context.error ?? JSON.stringify(s.value)}`));
  } catch (e) {
    return E.left(migrateError('x-svq', text(e)));
  } finally {
    actor.stop();
  }
}
