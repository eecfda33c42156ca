/**
 * Model-based conformance run on a user's device (`shadowvq mbt --device vdpa:/dev/vhost-vdpa-N`):
 * the model paths of every machine run with the real effects on the device, each step compared with
 * the same path on a simulator profile (./compare.ts). Each machine's binding lives in its room
 * (./sim/<machine>.ts `…Room`); this file checks the device first (a typed refusal for anything that is
 * not a vhost-vdpa virtio-net device with a CVQ, or a user who cannot own it), runs the rooms, and
 * leaves the device reset whatever happened — every open of it is reset before it is closed, a device a
 * path left open is closed after the path, and the run ends by giving the device its MAC back (a kernel
 * device keeps what a path's MAC_ADDR_SET wrote) and reading the status back (0, or reset).
 */
import * as E from 'fp-ts/lib/Either.js';
import { statSync } from 'node:fs';
import { MACHINES } from '../../machines/index.js';
import { parseSimSpec, validateSpec } from '../device/index.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../device/sim/device.js';
import { PROFILES, type ProfileName } from '../device/sim/profiles.js';
import type { DeviceError, VdpaDevice } from '../device/types.js';
import { openVdpaSpec } from '../device/vhost-vdpa/index.js';
import { featureNames, F } from '../virtio/features.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../virtio/net.js';
import { comparePaths, KNOWN_QUIRKS, type DeviceOffer, type DeviceRoom, type Difference, type Sides, type Trace } from './compare.js';
import type { MachineCoverage } from './index.js';
import { checkModel, deriveModel } from './model.js';
import { edgeKey, type StepFailure } from './runner.js';
import { cvqRoom, setMacThroughCvq } from './sim/cvq.js';
import { lifecycleRoom } from './sim/lifecycle.js';
import { migrationRoom } from './sim/migration.js';
import { svqRoom } from './sim/svq.js';
import { relayoutRoom } from './sim/svq-relayout.js';

/** One room per machine, in machines/index.ts order (every machine must have one). */
export const DEVICE_ROOMS: readonly DeviceRoom[] = MACHINES.map((m) => {
  const r = [lifecycleRoom, svqRoom, relayoutRoom, cvqRoom, migrationRoom].find((x) => x.machine.id === m.id);
  if (r === undefined) throw new Error(`machine ${m.id} has no device room (src/mbt/sim/)`);
  return r;
});

/** A refusal before anything ran: one line for the user, exit status 2. */
export interface DeviceRefusal {
  readonly _tag: 'DeviceRefusal';
  readonly message: string;
}
const refuse = (message: string): E.Either<DeviceRefusal, never> => E.left({ _tag: 'DeviceRefusal', message });

export interface DeviceMbtOptions {
  /** The device under test: `vdpa:/dev/vhost-vdpa-N`, or a simulator spec `sim:<profile>` (no root needed). */
  readonly device: string;
  /** The simulator profile to compare with, `sim:<profile>[+stale]`; default: the profile whose offer matches the device's. */
  readonly compare?: string;
  /** How the device is opened (default: by its spec). */
  readonly open?: () => E.Either<DeviceError, VdpaDevice>;
  /** The effective user id (default process.getuid()): a kernel device needs root. */
  readonly uid?: number;
  readonly rooms?: readonly DeviceRoom[];
  readonly onPath?: (machine: string, done: number, total: number) => void;
  /** Stop after the path that is running (the device is reset all the same). */
  readonly signal?: AbortSignal;
  /** false: run the planned paths only, not src/mbt's second chances for transitions they left uncovered. */
  readonly secondChances?: boolean;
}

/** `paths`: run on both sides (second chances included). */
export interface DeviceMachineReport extends MachineCoverage {
  readonly steps: number;
  readonly failureDetails: readonly (StepFailure & { readonly side: 'device' | 'sim' })[];
  readonly differences: readonly Difference[];
  readonly infeasible: readonly { readonly path: string; readonly reason: string }[];
  /** Why no path of this machine can run on the device, if none can. */
  readonly unsupported?: string;
  readonly uncoveredStates: readonly string[];
  readonly uncoveredTransitions: readonly string[];
}

export interface DeviceMbtReport {
  readonly device: string;
  readonly compare: string;
  /** How the compared profile was chosen. */
  readonly compareChosen: 'given' | 'matches the offer' | 'closest offer';
  readonly offer: DeviceOffer & { readonly featureNames: readonly string[] };
  readonly machines: readonly DeviceMachineReport[];
  /** The device's status byte when the run ended, after any reset it needed (0: reset). */
  readonly finalStatus: number | string;
  /** The MAC in its config space before the run and after it (given back through the CVQ if a path changed it). */
  readonly mac: { readonly before: string | undefined; readonly after: string | undefined; readonly problem?: string };
  /** The run was stopped (signal) before every path ran. */
  readonly interrupted: boolean;
}

const ERRNO_ROOT = new Set(['EACCES', 'EPERM']);

/** Open the device under test, with a refusal the user can act on. */
function openChecked(o: DeviceMbtOptions): E.Either<DeviceRefusal, VdpaDevice> {
  const opened = (o.open ?? (() => openSpec(o.device)))();
  if (E.isRight(opened)) return opened;
  const e = opened.left;
  if (e.errnoName !== undefined && ERRNO_ROOT.has(e.errnoName)) return refuse(`${o.device}: ${e.errnoName} opening the device: run as root (the run owns it, maps memory into it and resets it)`);
  if (e.errnoName === 'EBUSY') return refuse(`${o.device} is in use (vhost-vdpa admits one opener at a time: is QEMU or another shadowvq using it?)`);
  return refuse(`${o.device}: ${e.message}`);
}

const openSpec = (spec: string): E.Either<DeviceError, VdpaDevice> => {
  if (spec.startsWith('vdpa:')) return openVdpaSpec(spec);
  return E.chain((opts: SimDeviceOptions) => SimVdpaDevice.create(opts))(parseSimSpec(spec));
};

/** What the device offers, read without owning it; refused when it is not a vhost-vdpa virtio-net device with a CVQ. */
function probe(dev: VdpaDevice, spec: string): E.Either<DeviceRefusal, DeviceOffer> {
  const id = dev.getDeviceId();
  if (E.isLeft(id)) return refuse(`${spec} is not a vhost-vdpa device: ${id.left.message}`);
  if (id.right !== 1) return refuse(`${spec} is a vhost-vdpa device, but not virtio-net (virtio device id ${id.right}, virtio 1.2 §5)`);
  const features = dev.getFeatures();
  const backend = dev.getBackendFeatures();
  const vqs = dev.getVqsCount();
  for (const r of [features, backend, vqs]) if (E.isLeft(r)) return refuse(`${spec}: ${r.left.message}`);
  const f = (features as E.Right<bigint>).right;
  if ((f & F.CTRL_VQ) === 0n) return refuse(`${spec} offers no VIRTIO_NET_F_CTRL_VQ: the machines restore state through the control virtqueue, so there is nothing to test (offered: ${featureNames(f).join(' ') || 'none'})`);
  // devices without virtqueue groups / address spaces answer ENOTTY or EOPNOTSUPP: one of each
  const count = (r: E.Either<DeviceError, number>) => (E.isRight(r) ? r.right : 1);
  return E.right({ features: f, backend: (backend as E.Right<bigint>).right, vqs: (vqs as E.Right<number>).right, groups: count(dev.getGroupNum()), asids: count(dev.getAsNum()) });
}

const popcount = (x: bigint): number => {
  let n = 0;
  for (let v = x; v !== 0n; v &= v - 1n) n++;
  return n;
};

/** The simulator profile to compare with: the one given, else the one whose offer is the device's (or the closest). */
function compareProfile(o: DeviceMbtOptions, offer: DeviceOffer): E.Either<DeviceRefusal, { spec: string; opts: SimDeviceOptions; chosen: DeviceMbtReport['compareChosen'] }> {
  if (o.compare !== undefined) {
    const names = Object.keys(PROFILES).map((n) => `sim:${n}`);
    if (!o.compare.startsWith('sim:')) return refuse(`--compare: expected a simulator profile (${names.join(', ')}, sim:vdpa_sim_net+stale), got "${o.compare.slice(0, 60)}"`);
    const p = parseSimSpec(o.compare);
    if (E.isLeft(p)) return refuse(`--compare: ${p.left.message}`);
    return E.right({ spec: o.compare, opts: p.right, chosen: 'given' });
  }
  const ranked = (Object.keys(PROFILES) as ProfileName[])
    .map((name) => ({ name, distance: popcount(PROFILES[name].deviceFeatures ^ offer.features) + popcount(PROFILES[name].backendFeatures ^ offer.backend) }))
    .sort((a, b) => a.distance - b.distance);
  const best = ranked[0]!;
  return E.right({ spec: `sim:${best.name}`, opts: { profile: best.name }, chosen: best.distance === 0 ? 'matches the offer' : 'closest offer' });
}

/** Check what the user asked for before anything touches the device: spec, user, device kind, CTRL_VQ, profile. */
export function preflightDevice(
  o: DeviceMbtOptions,
): E.Either<DeviceRefusal, { readonly offer: DeviceOffer; readonly mac: string | undefined; readonly profile: { spec: string; opts: SimDeviceOptions; chosen: DeviceMbtReport['compareChosen'] } }> {
  const spec = o.device.trim();
  if (spec === 'sim' || !(spec.startsWith('vdpa:') || spec.startsWith('sim:'))) return refuse(`--device: expected vdpa:/dev/vhost-vdpa-N or sim:<profile> for a conformance run, got "${spec.slice(0, 60)}"`);
  const valid = validateSpec(spec);
  if (E.isLeft(valid)) return refuse(`--device: ${valid.left.message}`);
  if (spec.startsWith('vdpa:') && o.open === undefined) {
    const path = spec.slice('vdpa:'.length);
    let st;
    try {
      st = statSync(path);
    } catch {
      return refuse(`${path}: no such device (load vhost_vdpa and create the device: vdpa dev add …)`);
    }
    if (!st.isCharacterDevice()) return refuse(`${path} is not a vhost-vdpa device (not a character device)`);
  }
  if (spec.startsWith('vdpa:') && (o.uid ?? process.getuid?.() ?? 0) !== 0) return refuse(`${spec}: a conformance run on a kernel device needs root (it owns the device, maps memory into it and resets it)`);
  const dev = openChecked(o);
  if (E.isLeft(dev)) return dev;
  try {
    const offer = probe(dev.right, spec);
    if (E.isLeft(offer)) return offer;
    const profile = compareProfile(o, offer.right);
    return E.isLeft(profile) ? profile : E.right({ offer: offer.right, mac: macOf(dev.right), profile: profile.right });
  } finally {
    dev.right.close();
  }
}

/** Opens of the device under test: each reset before it closes; those a path left open closed by `closeAll`. */
class DeviceOpens {
  private readonly open = new Set<VdpaDevice>();
  constructor(private readonly opener: () => E.Either<DeviceRefusal, VdpaDevice>) {}

  next(): VdpaDevice {
    const d = this.opener();
    if (E.isLeft(d)) throw new Error(d.left.message);
    const inner = d.right;
    const opens = this.open;
    const dev: VdpaDevice = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop !== 'close') return Reflect.get(target, prop, receiver) as unknown;
        return () => {
          if (!opens.delete(dev)) return;
          // §2.1: writing 0 resets the device; whatever the path did, it is not left half-configured
          target.setStatus(0);
          target.close();
        };
      },
    });
    opens.add(dev);
    return dev;
  }

  closeAll(): void {
    for (const d of [...this.open]) d.close();
  }
}

const macOf = (dev: VdpaDevice): string | undefined => {
  const m = dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
  return E.isRight(m) ? formatMac(m.right) : undefined;
};

/**
 * Leave the device as the run found it: its MAC given back through its CVQ if a path changed it (a
 * kernel device keeps MAC_ADDR_SET across resets), reset if anything left it otherwise; say its status
 * and MAC now.
 */
async function leaveDevice(o: DeviceMbtOptions, macBefore: string | undefined): Promise<{ status: number | string; mac: string | undefined; macProblem?: string }> {
  const use = async <T>(fn: (dev: VdpaDevice) => T | Promise<T>): Promise<E.Either<string, T>> => {
    const d = openChecked(o);
    if (E.isLeft(d)) return E.left(d.left.message);
    try {
      return E.right(await fn(d.right));
    } finally {
      d.right.close();
    }
  };
  let macProblem: string | undefined;
  const now = await use(macOf);
  if (macBefore !== undefined && E.isRight(now) && now.right !== macBefore) {
    const r = await use((dev) => setMacThroughCvq(dev, macBefore));
    const failed = E.isLeft(r) ? r.left : E.isLeft(r.right) ? r.right.left : undefined;
    if (failed !== undefined) macProblem = `the MAC ${now.right} the run left could not be set back to ${macBefore}: ${failed}`;
  }
  const end = await use((dev) => {
    const st = dev.getStatus();
    if (E.isRight(st) && st.right !== 0) dev.setStatus(0);
    const after = dev.getStatus();
    return { status: E.isRight(after) ? after.right : after.left.message, mac: macOf(dev) };
  });
  if (E.isLeft(end)) return { status: end.left, mac: undefined, ...(macProblem === undefined ? {} : { macProblem }) };
  return { ...end.right, ...(macProblem === undefined ? {} : { macProblem }) };
}

async function runRoom(room: DeviceRoom, offer: DeviceOffer, sides: Sides, opens: DeviceOpens, o: DeviceMbtOptions): Promise<DeviceMachineReport> {
  const model = deriveModel(room.machine);
  const drift = checkModel(model);
  if (drift.length) throw new Error(`model of ${model.id} drifted from the machine: ${drift.map((d) => d.message).join('; ')}`);
  const paths = room.paths(model);
  const unsupported = room.unsupported?.(offer);
  const base = { id: model.id, states: { covered: 0, total: model.states.length }, transitions: { covered: 0, total: model.edges.length } };
  if (unsupported !== undefined) {
    return { ...base, paths: 0, steps: 0, failures: 0, failureDetails: [], differences: [], unsupported, infeasible: paths.map((p) => ({ path: p.description, reason: unsupported })), uncoveredStates: model.states, uncoveredTransitions: model.edges.map(edgeKey) };
  }
  const trace = { device: new Map() as Trace, sim: new Map() as Trace };
  const c = await comparePaths(model, paths, room.harnesses(sides, trace), trace, {
    after: () => opens.closeAll(),
    ...(o.onPath === undefined ? {} : { onPath: (d: number, t: number) => o.onPath!(model.id, d, t) }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    ...(o.secondChances === undefined ? {} : { secondChances: o.secondChances }),
  });
  const edges = model.edges.map(edgeKey);
  return {
    ...base,
    states: { covered: model.states.filter((s) => c.states.has(s)).length, total: model.states.length },
    transitions: { covered: edges.filter((e) => c.transitions.has(e)).length, total: edges.length },
    paths: c.paths,
    steps: c.steps,
    failures: c.failures.length,
    failureDetails: c.failures,
    differences: c.differences,
    infeasible: c.infeasible,
    uncoveredStates: model.states.filter((s) => !c.states.has(s)),
    uncoveredTransitions: edges.filter((e) => !c.transitions.has(e)),
  };
}

/**
 * Run every room's paths on the device and on the compared profile. Left: refused before anything ran
 * (the message says why). The device is reset at the end whatever happened (an exception included).
 */
export async function runDeviceMbt(o: DeviceMbtOptions): Promise<E.Either<DeviceRefusal, DeviceMbtReport>> {
  const pre = preflightDevice(o);
  if (E.isLeft(pre)) return pre;
  const { offer, profile, mac } = pre.right;
  const opens = new DeviceOpens(() => openChecked(o));
  const sides: Sides = {
    device: () => opens.next(),
    sim: (x = {}) => {
      const d = SimVdpaDevice.create({ ...profile.opts, ...(x.mac === undefined || x.mac === '' ? {} : { mac: x.mac }) });
      if (E.isLeft(d)) throw new Error(d.left.message);
      return d.right;
    },
  };
  const machines: DeviceMachineReport[] = [];
  let interrupted = false;
  try {
    for (const room of o.rooms ?? DEVICE_ROOMS) {
      if (o.signal?.aborted === true) {
        interrupted = true;
        break;
      }
      machines.push(await runRoom(room, offer, sides, opens, o));
    }
    interrupted ||= o.signal?.aborted === true;
  } finally {
    opens.closeAll();
  }
  const left = await leaveDevice(o, mac);
  return E.right({
    device: o.device,
    compare: profile.spec,
    compareChosen: profile.chosen,
    offer: { ...offer, featureNames: featureNames(offer.features) },
    machines,
    finalStatus: left.status,
    mac: { before: mac, after: left.mac, ...(left.macProblem === undefined ? {} : { problem: left.macProblem }) },
    interrupted,
  });
}

/** Whether a report passes: every path agreed on both sides (known quirks aside), no failure, the device reset. */
export const deviceReportPasses = (r: DeviceMbtReport): boolean =>
  !r.interrupted && r.finalStatus === 0 && r.mac.problem === undefined && r.mac.after === r.mac.before && r.machines.every((m) => m.failures === 0 && m.differences.every((d) => d.quirk !== undefined));

export { KNOWN_QUIRKS };
