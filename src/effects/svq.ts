/**
 * machines/svq-switch's effects on a vhost-vdpa device: switching a data path (src/effects/datapath.ts)
 * between passthrough and shadow virtqueues, as QEMU does (hw/virtio/vhost-shadow-virtqueue.c,
 * hw/virtio/vhost-vdpa.c `vhost_vdpa_svq_setup` / `_svq_map_rings` / `_svq_unmap_rings`):
 *
 *  - guest RAM is recorded in the IOVA tree at IOVA = GPA (it is already in the IOTLB);
 *  - shadow ring memory, pointing queues, the call relay and the drain check are the SVQ back end's
 *    (src/svq/shadow-rings.ts, shared with `SvqDevice`);
 *  - in shadow mode device calls are relayed to SVQ (event-driven on a device with call eventfds) and
 *    the guest's notifications go to SVQ.
 * Every step that fails undoes its own partial work before rejecting, so the machine's `progress`
 * lists exactly what `rollback` has to undo.
 *
 * This switches a device that is *running* — DRIVER_OK, its CVQ state configured — while SUSPENDed
 * (QEMU's migration log_global_start), keeping the device's state and the CVQ untouched; `SvqDevice`
 * (src/svq/svq-device.ts) starts a device shadowed from a reset on the same back end.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AddressSpace } from '../memory/address-space.js';
import { decodeBase, encodeBase } from '../ring/index.js';
import type { RingBase, RingConfig } from '../ring/types.js';
import { deviceError, VHOST_ACCESS_RW, type BusyPoll, type DeviceError } from '../device/types.js';
import { IovaTree, isIovaTreeError } from '../svq/iova-tree.js';
import { isSvqError, ShadowVirtqueue, type SvqHandover } from '../svq/shadow-virtqueue.js';
import { ShadowRings } from '../svq/shadow-rings.js';
import type { DirtyLog } from '../svq/dirty-log.js';
import type { SvqMode, svqSwitchMachine } from '../../machines/svq-switch.js';
import type { EffectsOf } from '../../machines/contract.js';
import { GUEST_RAM_GPA, type DataPath, type GuestQueue } from './datapath.js';
import { orReject } from './common.js';

/** machines/svq-switch's effects (the type is the machine's). */
export type SvqSwitchEffects = EffectsOf<typeof svqSwitchMachine>;

interface Shadow {
  readonly config: RingConfig;
  svq: ShadowVirtqueue;
}

export interface SvqBackendOptions {
  readonly dirty?: DirtyLog;
  /** How long the call relay waits on each queue of a device without call eventfds (the simulator). */
  readonly pumpWaitMs?: number;
  /** SVQ signals the guest's queue `qi` (its irqfd): an in-process guest waiting for used chains. */
  readonly callGuest?: (qi: number) => void;
  /**
   * Busy-poll the shadow used rings for up to this long without progress after a transmit burst is
   * kicked (ms; BUSY_POLL_MS is a fair value). Default 0: off, the relay waits for the device's calls.
   * Only a device with event-driven calls polls.
   */
  readonly busyPollMs?: number;
}

/**
 * A busy-poll budget (vhost-net's busy-poll): how long the relay polls the shadow used rings after a
 * transmit kick before it sleeps on the device's calls again. Off by default: on the 2-vCPU TCG guest of
 * test:real it loses to calls on the event loop (0.1–0.2 ms a wake-up), its spinning taking the vCPU
 * vdpa_sim's worker wants (medians 0.54–0.70× against 0.70–0.77× calls only, same runs); it pays where
 * a wake-up costs more than a burst (calls through the thread pool: 0.5–5 ms) or the device has its own core.
 */
export const BUSY_POLL_MS = 1;

/** The switchable data path: where the guest's notifications go, and the shadow state when shadowed. */
export class SvqBackend {
  readonly tree: IovaTree;
  /** The device's IOVA view: guest RAM at IOVA = GPA and the shadow rings at their IOVAs. */
  readonly view = new AddressSpace('iova');
  /** The SVQ back end on the device: shadow ring memory, pointing, call relay. */
  readonly rings: ShadowRings;
  readonly shadows = new Map<number, Shadow>();
  readonly handovers = new Map<number, SvqHandover>();
  /** Where the device's queues point now. */
  mode: SvqMode = 'passthrough';

  constructor(
    readonly path: DataPath,
    readonly opts: SvqBackendOptions = {},
  ) {
    const range = path.dev.getIovaRange();
    this.tree = new IovaTree(E.isRight(range) ? range.right : { first: 0, last: 2 ** 48 - 1 });
    const r = path.ram;
    const m = this.tree.insert('gpa', GUEST_RAM_GPA, { translatedAddr: GUEST_RAM_GPA, size: r.size - 1, perm: VHOST_ACCESS_RW });
    if (isIovaTreeError(m)) throw new Error(`guest RAM in the IOVA tree: ${m.message}`);
    const v = this.view.addRegion(GUEST_RAM_GPA, r.buffer, { offset: r.offset, size: r.size, name: 'guest-ram' });
    if (E.isLeft(v)) throw new Error(v.left.message);
    this.rings = new ShadowRings(path.dev, this.tree, this.view, path.asid);
  }

  queue(qi: number): GuestQueue {
    const q = this.path.queues.find((x) => x.qi === qi);
    if (q === undefined) throw deviceError('invalid', 'svq', `queue ${qi} is not a data queue of this path`);
    return q;
  }

  /**
   * The guest notified queue `qi` (its kick): to SVQ once the device works on the shadow rings, to the
   * device otherwise — also while the shadow rings are being set up, so SVQ forwards nothing the device
   * is not pointed at yet (it picks those chains up from the guest ring when it starts).
   */
  notify(qi: number): E.Either<DeviceError, void> {
    const s = this.shadows.get(qi);
    if (s !== undefined && this.mode === 'shadow' && s.svq.state === 'running') {
      s.svq.handleGuestKick();
      return E.right(undefined);
    }
    return this.path.dev.kick(qi);
  }

  /** Relay device calls to the shadow queues until shadow mode ends. */
  startPump(): void {
    if (this.rings.relaying) return;
    const idleMs = this.opts.busyPollMs ?? 0;
    this.rings.relayCalls(
      [...this.shadows.keys()],
      (qi) => {
        const s = this.shadows.get(qi);
        if (s !== undefined && s.svq.state === 'running') s.svq.handleDeviceCall();
      },
      this.opts.pumpWaitMs ?? 10,
      idleMs > 0 ? this.busyPoll(idleMs) : undefined,
    );
  }

  /**
   * Polling every shadow queue after a transmit kick: busy while a transmit queue (odd index, §5.1.2,
   * whose device completes what it is given) has chains in flight; receive queues are polled alongside.
   */
  private busyPoll(idleMs: number): BusyPoll {
    const shadows = this.shadows;
    return {
      idleMs,
      poll: () => {
        let n = 0;
        for (const s of shadows.values()) if (s.svq.state === 'running') n += s.svq.pollDevice();
        return n;
      },
      busy: () => {
        for (const [qi, s] of shadows) if (qi % 2 === 1 && s.svq.state === 'running' && s.svq.shadowRing.inFlight() > 0) return true;
        return false;
      },
      end: () => {
        for (const s of shadows.values()) s.svq.endPolling();
      },
    };
  }

  stopPump(): void {
    this.rings.stopRelay();
  }

  /** Disable, re-address and re-enable queue `qi` while the device is suspended. */
  point(qi: number, addrs: RingConfig['addrs'], base: number): E.Either<DeviceError, void> {
    return this.rings.point(qi, addrs, base);
  }

  /** SVQ of queue `qi` on its shadow ring `config`, resuming `resume` (a guest position or a hand-over). */
  private svqFor(qi: number, config: RingConfig, resume: SvqHandover): ShadowVirtqueue | DeviceError {
    const dev = this.path.dev;
    const mem = this.rings.memory(qi);
    const callGuest = this.opts.callGuest;
    const svq = ShadowVirtqueue.create({
      name: `svq-${qi}`,
      guest: { space: this.path.gpa, config: this.queue(qi).config },
      shadow: { space: this.view, config, ...(mem?.indirectArea === undefined ? {} : { indirectArea: mem.indirectArea }) },
      iova: this.tree,
      ...(this.opts.dirty === undefined ? {} : { dirty: this.opts.dirty }),
      kickDevice:
        qi % 2 === 1
          ? () => {
              void dev.kick(qi);
              this.rings.pokeRelay();
            }
          : () => void dev.kick(qi),
      callGuest: callGuest === undefined ? () => {} : () => callGuest(qi),
      // a transmit queue (odd index, §5.1.2): its device calls come for every chain, so kicks may rest
      pollGuestWhileBusy: qi % 2 === 1,
      resume,
    });
    return isSvqError(svq) ? deviceError('invalid', 'svq setup', svq.message) : svq;
  }

  /** Allocate, map and build the shadow ring of `qi`, resuming the guest ring at `base`. */
  mapOne(qi: number, base: number): E.Either<DeviceError, Shadow> {
    const g = this.queue(qi);
    const layout = g.config.layout;
    const mem = this.rings.map(qi, { layout, size: g.config.size, indirect: g.config.indirect, cvq: false });
    if (E.isLeft(mem)) return mem;
    const config: RingConfig = { ...g.config, addrs: mem.right.addrs };
    const svq = this.svqFor(qi, config, { guestLayout: layout, guestSize: g.config.size, guestBase: decodeBase(layout, base), inFlight: [], passthroughBase: undefined });
    if (!(svq instanceof ShadowVirtqueue)) {
      this.rings.unmap(qi);
      return E.left(svq);
    }
    const s: Shadow = { config, svq };
    this.shadows.set(qi, s);
    return E.right(s);
  }

  /** Unmap and free the shadow ring of `qi` (after the device stopped using it). */
  unmapOne(qi: number): E.Either<DeviceError, void> {
    if (!this.shadows.has(qi)) return E.right(undefined);
    const r = this.rings.unmap(qi);
    if (E.isRight(r)) this.shadows.delete(qi);
    return r;
  }

  /** A stopped shadow queue started again from its hand-over (a failed disable rolled back). */
  restart(qi: number, h: SvqHandover): E.Either<DeviceError, void> {
    const s = this.shadows.get(qi);
    if (s === undefined) return E.left(deviceError('state', 'svq restart', `queue ${qi} is not shadowed`));
    const fresh = this.svqFor(qi, s.config, h);
    if (!(fresh instanceof ShadowVirtqueue)) return E.left(fresh);
    s.svq = fresh;
    return E.right(undefined);
  }

  /**
   * What an owner does after a switch left the device in neither mode (the machine's `failed`): stop
   * relaying, hand every shadow queue back to its guest ring at the exact position, unmap and free the
   * shadow rings, resume the device.
   */
  recover(): E.Either<DeviceError, void> {
    this.stopPump();
    const layout = this.path.layout;
    const errs: string[] = [];
    for (const q of this.path.queues) {
      const s = this.shadows.get(q.qi);
      let base: number | undefined;
      if (s !== undefined) {
        const h = s.svq.state === 'running' ? s.svq.stop() : this.handovers.get(q.qi) ?? s.svq.stop();
        if (h.passthroughBase !== undefined) base = encodeBase(layout, h.passthroughBase);
      } else {
        const h = this.handovers.get(q.qi);
        if (h?.passthroughBase !== undefined) base = encodeBase(layout, h.passthroughBase);
      }
      if (base === undefined) {
        const b = this.path.dev.getVringBase(q.qi);
        if (E.isLeft(b)) errs.push(b.left.message);
        else base = b.right;
      }
      if (base !== undefined) {
        const r = this.point(q.qi, q.config.addrs, base);
        if (E.isLeft(r)) errs.push(r.left.message);
        else void this.path.dev.kick(q.qi);
      }
      const u = this.unmapOne(q.qi);
      if (E.isLeft(u)) errs.push(u.left.message);
    }
    this.handovers.clear();
    this.mode = 'passthrough';
    const r = this.path.dev.resume();
    if (E.isLeft(r)) errs.push(r.left.message);
    return errs.length ? E.left(deviceError('state', 'svq recover', errs.join('; '))) : E.right(undefined);
  }

  /**
   * SVQ stop on a suspended device (QEMU vhost_svq_stop): forward what the device used, un-pop every
   * chain still in flight so the guest ring holds it again, and say where each guest ring resumes.
   * machines/svq-switch's `drainShadow` and the migration's stop-and-copy drain are this one step.
   */
  async drain(queues: readonly number[]): Promise<{ handedBack: number; bases: number[] }> {
    const layout = this.path.layout;
    this.stopPump();
    let handedBack = 0;
    const bases: number[] = [];
    for (const qi of queues) {
      const s = this.shadows.get(qi);
      if (s === undefined) throw deviceError('state', 'svq drain', `queue ${qi} is not shadowed`);
      // VHOST_GET_VRING_BASE on the shadow ring: the device cannot have consumed more than SVQ offered
      await orReject(this.rings.deviceBase(qi, s.svq, layout, s.config.size));
      if (s.svq.state === 'running') s.svq.handleDeviceCall();
      const h = s.svq.stop();
      this.handovers.set(qi, h);
      if (h.passthroughBase === undefined) {
        throw deviceError('state', 'svq drain', `queue ${qi}: ${h.inFlight.length} in-flight chain(s) completed out of order cannot be handed back to the guest ring`);
      }
      handedBack += h.inFlight.length;
      bases.push(encodeBase(layout, h.passthroughBase));
    }
    return { handedBack, bases };
  }

  /** Guest chains the data path holds: in the guest rings' drivers (made available, not yet reaped). */
  guestInFlight(): number {
    return this.path.queues.reduce((n, q) => n + q.driver.inFlight(), 0);
  }
}

/**
 * Where a device starts on a shadow ring: at the driver's used position, so every chain SVQ made
 * available and the device has not used yet is read again (on a new ring: the start).
 */
export const deviceStartOf = (b: RingBase): RingBase => ({ availIdx: b.usedIdx, availWrap: b.usedWrap, usedIdx: b.usedIdx, usedWrap: b.usedWrap });

const all = <T>(xs: readonly T[], f: (x: T, i: number) => E.Either<DeviceError, unknown>): E.Either<DeviceError, void> => {
  for (let i = 0; i < xs.length; i++) {
    const r = f(xs[i]!, i);
    if (E.isLeft(r)) return E.left(r.left);
  }
  return E.right(undefined);
};

/** machines/svq-switch's effects over a back end. (Long: one object literal, one method per effect; each is one device operation.) */
export function svqSwitchEffects(b: SvqBackend): SvqSwitchEffects {
  const dev = b.path.dev;
  const layout = b.path.layout;
  return {
    suspendDevice: async () => orReject(dev.suspend()),
    resumeDevice: async () => orReject(dev.resume()),
    async readVringBases({ queues }) {
      const bases: number[] = [];
      for (const qi of queues) bases.push(await orReject(dev.getVringBase(qi)));
      return { bases };
    },
    async mapShadowRings({ queues, bases }) {
      const done: number[] = [];
      const r = all(queues, (qi, i) => E.map(() => done.push(qi))(b.mapOne(qi, bases[i]!)));
      if (E.isLeft(r)) {
        for (const qi of done) b.unmapOne(qi);
        throw r.left;
      }
    },
    async pointToShadow({ queues }) {
      // a failure may leave queues pointed, or one half-pointed (its base set, its address not): the
      // machine's rollback puts every queue back on its guest ring at the base read at suspend
      const r = all(queues, (qi) => {
        const s = b.shadows.get(qi)!;
        return b.point(qi, s.config.addrs, encodeBase(layout, deviceStartOf(s.svq.shadowRing.base())));
      });
      if (E.isLeft(r)) throw r.left;
      b.mode = 'shadow';
      for (const qi of queues) b.shadows.get(qi)!.svq.start();
      b.startPump();
    },
    drainShadow: ({ queues }) => b.drain(queues),
    async writeBackIndexes({ queues, bases }) {
      // the guest's used ring already holds every chain SVQ returned; the device resumes at the base
      await orReject(all(queues, (qi, i) => dev.setVringBase(qi, bases[i]!)));
    },
    async unmapShadowRings({ queues }) {
      await orReject(all(queues, (qi) => b.unmapOne(qi)));
    },
    async pointToGuest({ queues, bases }) {
      await orReject(all(queues, (qi, i) => b.point(qi, b.queue(qi).config.addrs, bases[i]!)));
      // the chains handed back were kicked on the shadow ring: notify the device of them again on the
      // guest ring (held until RESUME; a spurious kick is harmless)
      await orReject(all(queues, (qi) => dev.kick(qi)));
      b.mode = 'passthrough';
      b.handovers.clear();
    },
    async rollback({ queues, to, progress, bases }) {
      const did = new Set(progress);
      const errs: string[] = [];
      const note = (r: E.Either<DeviceError, unknown>) => E.isLeft(r) && errs.push(r.left.message);
      if (to === 'passthrough') {
        // enable failed: back to the guest rings at the bases read at suspend, shadow rings gone
        b.stopPump();
        // from the moment pointing may have begun (after the map): every queue, whatever it reached
        if (did.has('mapped') || did.has('pointed') || b.mode === 'shadow') {
          for (let i = 0; i < queues.length; i++) note(b.point(queues[i]!, b.queue(queues[i]!).config.addrs, bases[i]!));
          for (const qi of queues) note(dev.kick(qi));
        }
        b.mode = 'passthrough';
        for (const qi of queues) if (b.shadows.has(qi)) note(b.unmapOne(qi));
      } else {
        // disable failed: shadow rings again, forwarding resumed from the hand-over
        if (did.has('unmapped')) {
          for (let i = 0; i < queues.length; i++) note(b.mapOne(queues[i]!, bases[i]!));
        }
        // only what the disable did is undone: a device still on its shadow rings keeps its position
        const repoint = did.has('pointed') || did.has('unmapped');
        for (const qi of queues) {
          const s = b.shadows.get(qi);
          const h = b.handovers.get(qi);
          if (s === undefined) continue;
          let recreated = false;
          if (s.svq.state !== 'running' && h !== undefined) {
            const r = b.restart(qi, h);
            if (E.isLeft(r)) errs.push(r.left.message);
            else recreated = true;
          }
          // a new SVQ writes its shadow ring from the start: the device must re-read it from there
          if (repoint || recreated) note(b.point(qi, s.config.addrs, encodeBase(layout, deviceStartOf(s.svq.shadowRing.base()))));
        }
        b.mode = 'shadow';
        b.handovers.clear();
        for (const s of b.shadows.values()) s.svq.start();
        b.startPump();
      }
      if (did.has('suspended')) note(dev.resume());
      if (errs.length) throw deviceError('state', 'svq rollback', errs.join('; '));
    },
  };
}
