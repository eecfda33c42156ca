/**
 * Conformance facts about one device, for the report (`shadowvq mbt --report`) and `--json`: what a NIC
 * vendor's validation engineer asks before a migration — does the device take every CVQ class it offers,
 * ack what it applied, honour SUSPEND / RESUME, report vring bases that mean what they say — and which
 * known quirks it has, by name.
 *
 * Every step goes through the machines with the real effects: machines/device-lifecycle brings the device
 * up with the shadow CVQ in its own ASID (src/cvq/shadow.ts `startShadowCvq`, as QEMU) and suspends,
 * resumes and resets it; machines/cvq-command sends the commands (src/effects/cvq.ts `runCvqCommands`).
 * Reading back is a single uAPI read: the MAC in config space (any device), or the whole virtio-net
 * state where the device can show it (the simulator's `netState` capability). The device is left
 * reset (status 0) however a probe ends.
 */
import * as E from 'fp-ts/lib/Either.js';
import { waitFor } from 'xstate';
import type { CvqCommand } from '../../machines/cvq-command.js';
import { CvqEngine } from '../cvq/engine.js';
import { CLASSES } from '../cvq/classes/index.js';
import { startShadowCvq, type ShadowCvqStarted } from '../cvq/shadow.js';
import { hasCapability } from '../device/registry.js';
import { SIM_FULL_FEATURES } from '../device/sim/profiles.js';
import type { VdpaDevice } from '../device/types.js';
import { runCvqCommands, toCvqCommand } from '../effects/cvq.js';
import { demoStateJson } from '../migrate/demo-state.js';
import { decodeStateJson } from '../state/json.js';
import { planRestore, type RestoreCommand } from '../state/plan.js';
import { backendMask } from '../device/types.js';
import { F, hasFeature } from '../virtio/features.js';
import { formatMac } from '../virtio/net.js';

export interface CvqClassRow {
  readonly cls: number;
  readonly name: string;
  /** The command sent for the class (one, alone in its batch). */
  readonly command: string;
  /** Whether the device offered (and the driver negotiated) the class's feature. */
  readonly negotiated: boolean;
  readonly sent: number;
  readonly ackedOk: number;
  readonly ackedErr: number;
  /** What reading the device back showed: applied, not applied, or not readable on this device. */
  readonly applied: 'applied' | 'not applied' | 'not readable';
}

export interface Observation {
  readonly what: string;
  readonly result: 'yes' | 'no' | 'n/a';
  readonly detail: string;
}

export interface DetectedQuirk {
  readonly name: string;
  readonly detected: boolean;
  readonly evidence: string;
}

export interface Conformance {
  readonly device: string;
  readonly negotiated: string;
  readonly cvqClasses: readonly CvqClassRow[];
  readonly suspendResume: readonly Observation[];
  readonly vringBase: readonly Observation[];
  readonly quirks: readonly DetectedQuirk[];
  /** A probe that could not run (the device could not be brought up), with why. */
  readonly errors: readonly string[];
}

const ACK_TIMEOUT_MS = 200;

/** One command of every class (the first the planner makes for the demo state with every feature). */
export function classCommands(): RestoreCommand[] {
  const state = E.getOrElseW((e: { message: string }) => {
    throw new Error(`demo state: ${e.message}`);
  })(decodeStateJson(demoStateJson()));
  const all = planRestore(state, SIM_FULL_FEATURES);
  return all.filter((x, i) => all.findIndex((y) => y.class === x.class) === i);
}

const CLASS_NAME: Record<number, string> = Object.fromEntries([...CLASSES].reverse().map((c) => [c.cls, c.name]));
const featureOf = (cls: number): bigint => CLASSES.filter((c) => c.cls === cls).reduce((m, c) => m | Object.values(c.commands).reduce((n, i) => n | (F[i.feature as keyof typeof F] ?? 0n), 0n), 0n);

type Opened = { dev: VdpaDevice; engine: CvqEngine; negotiated: bigint; lifecycle: ShadowCvqStarted['actor'] };

async function up(dev: VdpaDevice) {
  const offered = dev.getFeatures();
  if (E.isLeft(offered)) return E.left(`GET_FEATURES: ${offered.left.message}`);
  const started = await startShadowCvq(dev, offered.right & ~F.RING_PACKED, { asid: 1 });
  if (E.isLeft(started)) return E.left(started.left.message);
  return E.right(started.right);
}

/** Bring `open()` up, run `body`, and leave the device reset through machines/device-lifecycle whatever happens. */
async function withDevice<T>(open: () => E.Either<string, VdpaDevice>, body: (o: Opened) => Promise<T>): Promise<E.Either<string, T>> {
  const d = open();
  if (E.isLeft(d)) return d;
  const dev = d.right;
  const s = await up(dev);
  if (E.isLeft(s)) {
    dev.setStatus(0);
    dev.close();
    return s;
  }
  const { actor, cvq, negotiated } = s.right;
  try {
    return E.right(await body({ dev, engine: new CvqEngine(dev, cvq), negotiated, lifecycle: actor }));
  } catch (e) {
    return E.left(e instanceof Error ? e.message : String(e));
  } finally {
    actor.send({ type: 'RESET' });
    await waitFor(actor, (x) => x.matches('reset') || x.matches('failed') || x.status !== 'active', { timeout: 2000 }).catch(() => undefined);
    actor.stop();
    // belt and braces: a device the machine could not reset is reset by the one write that does it
    const st = dev.getStatus();
    if (E.isRight(st) && st.right !== 0) dev.setStatus(0);
    dev.close();
  }
}

const asJson = (c: RestoreCommand): CvqCommand => toCvqCommand(c);
const configMac = (dev: VdpaDevice): string | undefined => {
  const r = dev.getConfig(0, 6);
  return E.isRight(r) ? formatMac(r.right) : undefined;
};
const stateText = (dev: VdpaDevice): string | undefined => (hasCapability(dev, 'netState') ? JSON.stringify(dev.netState(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) : undefined);

/** Probe the device `open()` opens (each probe opens it afresh, so one probe's state cannot leak into the next). */
/** (Long: one probe per CVQ class and the SUSPEND/RESUME check share the opened device and its reset at the end.) */
export async function probeConformance(label: string, open: () => E.Either<string, VdpaDevice>): Promise<Conformance> {
  const errors: string[] = [];
  const commands = classCommands();
  let negotiated = 0n;
  // 1. every class, one command alone in its batch: the ack, and what reads back
  const rows = await withDevice(open, async ({ dev, engine, negotiated: n }) => {
    negotiated = n;
    const out: CvqClassRow[] = [];
    for (const c of commands) {
      const before = stateText(dev);
      const r = await runCvqCommands(engine, [asJson(c)], { strategy: 'serial', ackTimeoutMs: ACK_TIMEOUT_MS });
      const ok = r.ok && r.applied === 1;
      const after = stateText(dev);
      let applied: CvqClassRow['applied'] = 'not readable';
      if (c.cmd.kind === 'MAC_ADDR_SET') applied = configMac(dev) === c.cmd.mac ? 'applied' : 'not applied';
      else if (before !== undefined) applied = before !== after ? 'applied' : 'not applied';
      out.push({ cls: c.class, name: CLASS_NAME[c.class] ?? '?', command: c.name, negotiated: (featureOf(c.class) & n) !== 0n && hasFeature(n, 'CTRL_VQ'), sent: 1, ackedOk: ok ? 1 : 0, ackedErr: r.failure?.kind === 'ack-err' ? 1 : 0, applied });
    }
    return out;
  });
  if (E.isLeft(rows)) errors.push(`CVQ classes: ${rows.left}`);
  const cvqClasses = E.isRight(rows) ? rows.right : [];

  // 2. the stale ack: a command the device refuses alone, batched behind one it applies
  const refused = cvqClasses.find((r) => r.ackedErr === 1 && r.command !== 'MAC_ADDR_SET');
  const mac = commands.find((c) => c.cmd.kind === 'MAC_ADDR_SET');
  const quirks: DetectedQuirk[] = [];
  if (refused === undefined || mac === undefined) {
    quirks.push({ name: 'stale CVQ ack (vdpa_sim_net)', detected: false, evidence: 'the device acked every class OK alone: nothing to batch behind a success' });
  } else {
    const stale = await withDevice(open, async ({ engine }) => {
      const bad = commands.find((c) => c.name === refused.command)!;
      const r = await runCvqCommands(engine, [asJson(mac), asJson(bad)], { strategy: 'parallel', ackTimeoutMs: ACK_TIMEOUT_MS });
      return { applied: r.applied, ok: r.ok, command: bad.name };
    });
    if (E.isLeft(stale)) errors.push(`stale ack: ${stale.left}`);
    else
      quirks.push({
        name: 'stale CVQ ack (vdpa_sim_net)',
        detected: stale.right.ok && stale.right.applied === 2,
        evidence: stale.right.ok
          ? `${stale.right.command} is acked ERR alone but OK when batched behind MAC_ADDR_SET (vdpasim_handle_cvq does not reset its status between commands)`
          : `${stale.right.command} batched behind MAC_ADDR_SET is acked ERR, as alone`,
      });
  }

  // 3. SUSPEND / RESUME and the vring base, through machines/device-lifecycle
  const suspendResume: Observation[] = [];
  const vringBase: Observation[] = [];
  const sr = await withDevice(open, async ({ dev, engine, lifecycle }) => {
    const backend = dev.getBackendFeatures();
    const offers = (name: 'SUSPEND' | 'RESUME') => E.isRight(backend) && (backend.right & backendMask([name])) !== 0n;
    suspendResume.push({ what: 'VHOST_BACKEND_F_SUSPEND offered', result: offers('SUSPEND') ? 'yes' : 'no', detail: E.isRight(backend) ? `backend features 0x${backend.right.toString(16)}` : backend.left.message });
    suspendResume.push({ what: 'VHOST_BACKEND_F_RESUME offered', result: offers('RESUME') ? 'yes' : 'no', detail: '' });
    const sent = mac === undefined ? 0 : (await runCvqCommands(engine, [asJson(mac)], { strategy: 'serial', ackTimeoutMs: ACK_TIMEOUT_MS })).applied;
    lifecycle.send({ type: 'SUSPEND' });
    const s = await waitFor(lifecycle, (x) => x.matches({ active: { driverOk: 'suspended' } }) || x.matches({ active: { driverOk: 'running' } }) || x.matches('failed'), { timeout: 2000 });
    const suspended = s.matches({ active: { driverOk: 'suspended' } });
    suspendResume.push({ what: 'SUSPEND accepted', result: suspended ? 'yes' : 'no', detail: suspended ? 'device-lifecycle: driverOk.suspended' : `device-lifecycle: ${JSON.stringify(s.value)} (${String(s.context.error ?? '')})` });
    if (suspended) {
      // §2.7.2 / vhost: the base a suspended device reports is the next avail index it would read
      const base = dev.getVringBase(engine.cvq.qi);
      vringBase.push({
        what: 'GET_VRING_BASE of the CVQ while suspended = the commands the device used',
        result: E.isRight(base) ? (base.right === sent ? 'yes' : 'no') : 'n/a',
        detail: E.isRight(base) ? `base ${base.right}, ${sent} command(s) used on this queue` : base.left.message,
      });
      lifecycle.send({ type: 'RESUME' });
      const r = await waitFor(lifecycle, (x) => x.matches({ active: { driverOk: 'running' } }) || x.matches('failed'), { timeout: 2000 });
      const resumed = r.matches({ active: { driverOk: 'running' } });
      suspendResume.push({ what: 'RESUME accepted', result: resumed ? 'yes' : 'no', detail: `device-lifecycle: ${JSON.stringify(r.value)}` });
      if (resumed && mac !== undefined) {
        const after = await runCvqCommands(engine, [asJson(mac)], { strategy: 'serial', ackTimeoutMs: ACK_TIMEOUT_MS });
        suspendResume.push({ what: 'the CVQ answers again after RESUME', result: after.ok ? 'yes' : 'no', detail: after.ok ? 'MAC_ADDR_SET acked OK' : (after.failure?.kind ?? '?') });
      }
    }
    return undefined;
  });
  if (E.isLeft(sr)) errors.push(`SUSPEND/RESUME: ${sr.left}`);
  return { device: label, negotiated: `0x${negotiated.toString(16)}`, cvqClasses, suspendResume, vringBase, quirks, errors };
}
