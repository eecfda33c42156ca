/**
 * The bridge's migration onto another vhost-vdpa device, through machines/migration — both ends, each
 * its own actor, as src/migrate's controller runs them: the source from MIGRATE to `completed` (its
 * record), the destination from INCOMING(record) to `running`; a destination that gives up makes the
 * source resume (ROLLBACK). The kernel driver is the guest; it keeps sending throughout.
 *
 * What the bridge binds (the rest are src/effects' own: device-lifecycle on each device, the
 * destination's record loading, verification and quiescing):
 *
 * source (the device the bridge is on):
 *  - startDirtyLog: the queues are shadowed already (the bridge has no passthrough), so no svq-switch;
 *    and nothing is logged: both devices map the same memory of this process (VDUSE mmaps, the bounce
 *    pages), so no page is copied — syncDirtyLog reports one round with 0 pages;
 *  - drainInFlight (after device-lifecycle SUSPEND): the used entries of the suspended device returned
 *    to the kernel; the SVQs stay as they are, holding the chains in flight (they move in
 *    enableDataQueues, so a source that resumes has them still);
 *  - saveRecord: features (the device's, and what the bridge negotiated), the VDUSE rings' positions,
 *    the device state (no CVQ: the reset state with the config-space MAC).
 *
 * destination (`next`, owned before the machine starts, as src/migrate/world.ts opens its devices):
 *  - device-lifecycle START (reset, §3.1.1 up to FEATURES_OK with the record's features);
 *  - prepareDevice: the VDUSE memory (ring mmaps, bounce pages) at the same IOVAs, fresh shadow rings of
 *    the same geometry, each queue programmed on its ring at base 0 and left disabled;
 *  - cvqCommand: the record's restore plan is empty (VDUSE refuses CTRL_VQ: there is no CVQ);
 *  - enableDataQueues (after DRIVER_OK): the SVQs handed over from the source device (SVQ stop there),
 *    rebuilt on the new rings, queues enabled, forwarding started — in-flight chains first;
 *  - teardownDestination (a rollback, after the reset): SVQs handed back to the (still suspended) source
 *    device's rings, the new device's IOTLB entries and rings released.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor, type SnapshotFrom } from 'xstate';
import { phaseOf } from '../../../machines/actors.js';
import { encodeBase, type RingConfig } from '../../ring/index.js';
import { encodeStateJson } from '../../state/json.js';
import { MIGRATION_FORMAT, MIGRATION_RECORD_VERSION } from '../../state/migration-record.js';
import { resetNetState } from '../../state/net-state.js';
import { destinationEffects, type MigrationEffects } from '../../effects/migration.js';
import { lifecycleEffects } from '../../effects/lifecycle.js';
import { configMac, limitsOf } from '../../effects/vdpa-net.js';
import { PAGE_SIZE } from '../../memory/address-space.js';
import { wireMigration } from '../../migrate/controller.js';
import type { MigrationInput, migrationMachine } from '../../../machines/migration.js';
import { formatMac, NET_CONFIG, ETH_ALEN } from '../../virtio/net.js';
import { deviceError } from '../types.js';
import type { BridgeError, MigratingBridge } from './types.js';
import type { DeviceLink } from './link.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;
const bigHex = (_: string, v: unknown): unknown => (typeof v === 'bigint' ? hex(v) : v);
type Snap = SnapshotFrom<typeof migrationMachine>;

/** How long each end may take (the kernel keeps sending meanwhile; TCG is slow). */
const END_TIMEOUT_MS = 30_000;

const must = <L extends { readonly message: string }, R>(r: E.Either<L, R>): R => {
  if (E.isLeft(r)) throw r.left;
  return r.right;
};

/** machines/migration, source end, for the device the bridge is on. */
function sourceFx(b: MigratingBridge, old: DeviceLink, queues: readonly number[], negotiated: bigint): Partial<MigrationEffects> {
  return {
    deviceLifecycle: lifecycleEffects(old.dev),
    async startDirtyLog() {
      return { shadowed: true };
    },
    async syncDirtyLog() {
      return { pagesSent: 0, dirtyPages: 0 };
    },
    async drainInFlight() {
      let inFlight = 0;
      for (const qi of queues) {
        const svq = old.rings.svqs.get(qi);
        if (svq === undefined) throw deviceError('state', 'drain', `queue ${qi} has no SVQ`);
        svq.handleDeviceCall();
        if (svq.failure !== undefined) throw svq.failure;
        inFlight += svq.inFlight();
      }
      // the SVQs keep forwarding (they move to the destination as they are): none stopped
      return { inFlight, svqStopped: false };
    },
    async saveRecord({ rounds }) {
      const offered = must(old.dev.getFeatures());
      const macBytes = must(old.dev.getConfig(NET_CONFIG.mac, ETH_ALEN));
      const state = resetNetState(formatMac(macBytes), negotiated);
      const vrings = queues.map((qi) => ({ index: qi, base: encodeBase(b.guestLayout, old.rings.svqs.get(qi)!.guestRing.base()) }));
      const record = {
        format: MIGRATION_FORMAT,
        version: MIGRATION_RECORD_VERSION,
        device: JSON.parse(JSON.stringify(encodeStateJson(state), bigHex)) as unknown,
        features: { offered: hex(offered), negotiated: hex(negotiated), backend: hex(old.backend) },
        vrings,
        dirty: { pageSize: PAGE_SIZE, rounds, pagesSent: 0, remaining: 0 },
      };
      return { record };
    },
    async stopDirtyLog() {},
    async recoverSvq() {
      throw deviceError('unsupported', 'recoverSvq', 'the bridge never switches SVQ off');
    },
  };
}

/** machines/migration, destination end, onto `next`. */
function destinationFx(b: MigratingBridge, old: DeviceLink, next: DeviceLink, queues: readonly number[]): Partial<MigrationEffects> {
  const { effects, state } = destinationEffects({
    dev: next.dev,
    // the guest's rings are the kernel's, reached through the SVQs: nothing for the generic prepareDevice
    rings: new Map(),
    guestRam: () => {
      throw deviceError('unsupported', 'guestRam', 'the bridge maps the VDUSE memory itself');
    },
  });
  const shadow = new Map<number, RingConfig>();
  let slot = -1;
  let handedOver = false;
  let bounceMoved = false;
  return {
    ...effects,
    async prepareDevice({ record }) {
      must(b.moveBounce(old, next));
      bounceMoved = true;
      for (const m of b.vduse.mappings()) must(next.expose(m));
      slot = must(next.rings.map(queues, old.rings.size));
      for (const qi of queues) shadow.set(qi, must(next.rings.pointQueue(qi, slot, false)));
      const negotiated = BigInt(record.features.negotiated);
      const mac = must(configMac(next.dev, negotiated, '00:00:00:00:00:00'));
      state.provisioned = { mac, limits: must(limitsOf(next.dev)) };
      return { mac };
    },
    async enableDataQueues() {
      // SVQ stop on the suspended source: its used entries returned, the chains in flight handed over
      old.rings.drain(queues);
      for (const qi of queues) next.rings.handovers.set(qi, old.rings.handovers.get(qi)!);
      for (const qi of queues) old.rings.handovers.delete(qi);
      handedOver = true;
      for (const qi of queues) {
        must(next.dev.setVringEnable(qi, true));
        must(next.rings.rebuild(qi, slot, shadow.get(qi)!));
      }
      next.rings.active = slot;
      must(next.rings.start(queues));
    },
    async teardownDestination() {
      const errs: string[] = [];
      const note = (r: E.Either<{ readonly message: string }, unknown>) => void (E.isLeft(r) && errs.push(r.left.message));
      if (handedOver) {
        // back onto the source's rings (it is still suspended: the source's RESUME restarts it)
        next.rings.drain(queues);
        for (const qi of queues) {
          const h = next.rings.handovers.get(qi);
          if (h !== undefined) old.rings.handovers.set(qi, h);
        }
        note(old.rings.point(queues, old.rings.active));
        note(old.rings.start(queues));
        handedOver = false;
      }
      note(next.retire((start) => b.vduse.mapping(start)));
      if (bounceMoved) note(b.moveBounce(next, old));
      bounceMoved = false;
      if (errs.length) throw deviceError('state', 'migration rollback', errs.join('; '));
    },
  };
}

/**
 * Run the migration of `b` onto `next` (a link not yet owned). Right(next) once the destination runs
 * (the caller retires the old device); Left with the machines' error otherwise, the bridge still on the
 * old device, running.
 */
export async function migrateBridge(b: MigratingBridge, next: DeviceLink, onPhase: (end: 'source' | 'destination', phase: string) => void = () => {}): Promise<E.Either<BridgeError, DeviceLink>> {
  const o = next.own();
  if (E.isLeft(o)) return o;
  const old = b.link;
  const queues = b.queues.map((q) => q.qi);
  const offered = old.dev.getFeatures();
  if (E.isLeft(offered)) return offered;
  const negotiated = b.vdpaFeatures(offered.right);
  const common: MigrationInput = { dirtyThresholdPages: 0, maxRounds: 1 };
  const fail = (s: Snap, what: string) => E.left(deviceError('state', 'migrate', `${what}: ${s.context.error ?? JSON.stringify(s.value)}`));

  const source = createActor(wireMigration(sourceFx(b, old, queues, negotiated)), {
    input: { ...common, source: { offered: hex(offered.right), negotiated: hex(negotiated), queues } },
  });
  const watch = (end: 'source' | 'destination', a: { subscribe(f: (s: Snap) => void): unknown }) => {
    let last = '';
    a.subscribe((x: Snap) => {
      const p = phaseOf(x.value);
      if (p !== last) onPhase(end, (last = p));
    });
  };
  watch('source', source);
  source.start();
  try {
    source.send({ type: 'MIGRATE' });
    const s = await waitFor(source, (x) => x.matches({ source: 'completed' }) || x.matches({ source: 'cancelled' }) || x.matches('failed'), { timeout: END_TIMEOUT_MS });
    if (!s.matches({ source: 'completed' })) return fail(s, 'source');
    const destination = createActor(wireMigration(destinationFx(b, old, next, queues)), { input: { ...common, strategy: 'parallel', ackTimeoutMs: 1000 } });
    watch('destination', destination);
    destination.start();
    let d: Snap;
    try {
      destination.send({ type: 'INCOMING', record: s.context.record });
      d = await waitFor(destination, (x) => x.matches({ destination: 'running' }) || x.matches({ destination: 'aborted' }) || x.matches({ destination: 'rejected' }) || x.matches('failed'), { timeout: END_TIMEOUT_MS });
    } finally {
      destination.stop();
    }
    if (d.matches({ destination: 'running' })) return E.right(next);
    // the kernel's queues stay on the source device: it resumes (QEMU's `cont` after a failed switch-over)
    source.send({ type: 'ROLLBACK', ...(d.context.error === null ? {} : { reason: d.context.error }) });
    const back = await waitFor(source, (x) => x.matches({ source: 'cancelled' }) || x.matches('failed'), { timeout: END_TIMEOUT_MS });
    return fail(d, back.matches('failed') ? `destination, and resuming the source failed (${back.context.error ?? ''})` : 'destination (rolled back onto the source)');
  } finally {
    source.stop();
  }
}
