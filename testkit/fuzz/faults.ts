/**
 * The fault matrix: every fault the simulated device can inject × every phase of a machine run with its
 * real effects (src/effects/) on that device. A cell arms the fault the moment the phase's effect is
 * invoked, lets the run settle, then judges it:
 *
 *  - outcome: the run ends completed (the fault did not touch this phase) or rolled back to where it
 *    started; `failed` is acceptable only when the device itself demands a reset (NEEDS_RESET) and
 *    the owner's recovery then restores passthrough; a run stuck in a transient state is a failure;
 *  - buffers: the guest's ledger holds — every chain made available is reaped or still in flight
 *    (counted before and after), and after the faults are cleared every transmitted frame comes back;
 *  - mappings: passthrough maps only guest RAM (IOTLB and IOVA tree), shadow mode exactly one shadow
 *    ring per queue; the device is not left suspended;
 *  - error: a rolled-back run's error names the uAPI command that failed (and, ideally, the phase).
 *
 * Faults that cannot reach a machine's phases (CVQ faults in the data-path switch, CANCEL in a machine
 * without it) are `n/a` cells. The migration machine's row waits for its effects.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor } from 'xstate';
import { svqSwitchMachine, type SvqSwitchContext } from '../../machines/svq-switch.js';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { CVQ_FAULT_KINDS, type Fault } from '../../src/device/sim/faults.js';

/** Whether a fault (or any matrix row name) is one of the simulator's CVQ faults (it goes to the destination). */
const isCvqFault = (kind: string): boolean => (CVQ_FAULT_KINDS as ReadonlySet<string>).has(kind);
import type { Effect } from '../../src/effects/common.js';
import { bind } from '../../machines/contract.js';
import { createDataPath, GuestNic } from '../../src/effects/datapath.js';
import { SvqBackend, svqSwitchEffects, type SvqSwitchEffects } from '../../src/effects/svq.js';
import { F } from '../../src/virtio/features.js';
import type { CvqCommandOutput, CvqStrategy } from '../../machines/cvq-command.js';
import { CvqEngine } from '../../src/cvq/engine.js';
import { startShadowCvq } from '../../src/cvq/shadow.js';
import { startDevice } from '../../src/effects/lifecycle.js';
import { runCvqCommands, toCvqCommand } from '../../src/effects/cvq.js';
import { resetNetState, vlanFilterOf, type NetDeviceState } from '../../src/state/net-state.js';
import { planRestore } from '../../src/state/plan.js';
import { DESTINATION_PHASES, MIGRATION_PHASES, SOURCE_PHASES, runMigration, type MigrationPhase } from '../../src/migrate/controller.js';
import { withTestPoints } from '../migrate-points.js';
import { ACK_TIMEOUT_MS } from '../../src/effects/vdpa-net.js';
import { demoStateJson } from '../../src/migrate/demo-state.js';
import { decodeStateJson } from '../../src/state/json.js';
import { maximalState } from '../../src/state/maximal.js';
import { FULL_PROFILE_FEATURES } from '../../src/virtio/features.js';
import { VIRTIO_CONFIG_S as STATUS } from '../../src/virtio/status.js';
import { ringMappings } from '../../src/svq/shadow-rings.js';

export const FAULT_NAMES = [
  'nack',
  'delay-ack',
  'no-answer',
  'wrong-used-len',
  'bad-used-id',
  'suspend-fails',
  'resume-fails',
  'iotlb-map-fails',
  'needs-reset',
  'cancel',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

/**
 * `error`: the run ended in its own typed-error final state (a machine without rollback, e.g. the CVQ
 * restore, whose caller — the migration machine — rolls back).
 */
export type Outcome = 'completed' | 'rolled-back' | 'error' | 'failed' | 'stuck' | 'n/a';

export interface Cell {
  readonly machine: string;
  readonly phase: string;
  /** `none`: no fault, only the traffic the cell sends while the phase runs. */
  readonly fault: FaultName | 'none';
  readonly outcome: Outcome;
  /** The fault fired during the run (its rule counted a hit). */
  readonly fired: boolean;
  /** All checks passed. */
  readonly ok: boolean;
  /** Guest chains in flight when the phase began, and after the run (before recovery). */
  readonly inFlightBefore: number;
  readonly inFlightAfter: number;
  /** Chains neither reaped nor in flight (must be 0). */
  readonly lost: number;
  /** The machine's error text (rolled back / failed). */
  readonly error: string | null;
  readonly namesCommand: boolean;
  readonly namesPhase: boolean;
  /**
   * Frames transmitted before and during the run that never came back after it (faults cleared, device
   * healthy, guest waiting): lost buffers, or a lost wake-up. Reported apart from `problems`.
   */
  readonly lostFrames: number;
  /** The device demanded a reset (NEEDS_RESET) during the run. */
  readonly needsReset: boolean;
  /** What went wrong, when !ok. */
  readonly problems: readonly string[];
}

const QUEUES = [0, 1] as const;

/** The fault rule a cell arms, aimed at the data path (queue 1 = TX of pair 0). */
function ruleFor(f: FaultName): Fault | undefined {
  switch (f) {
    case 'suspend-fails':
      return { kind: 'suspend-fails', times: 1 };
    case 'resume-fails':
      return { kind: 'resume-fails', times: 1 };
    case 'iotlb-map-fails':
      return { kind: 'iotlb-map-fails', times: 1 };
    case 'wrong-used-len':
      return { kind: 'wrong-used-len', len: 0xffff, queue: 1, times: 1 };
    case 'bad-used-id':
      return { kind: 'bad-used-id', queue: 1, times: 1 };
    case 'needs-reset':
      return { kind: 'needs-reset', queue: 1, afterChains: 1, times: 1 };
    default:
      return undefined; // CVQ faults and CANCEL do not reach the data-path switch
  }
}

/** The uAPI op a fault makes fail, as it appears in the error text. */
const OP_OF: Partial<Record<FaultName, string>> = {
  'suspend-fails': 'VHOST_VDPA_SUSPEND',
  'resume-fails': 'VHOST_VDPA_RESUME',
  'iotlb-map-fails': 'VHOST_IOTLB_UPDATE',
};

export interface SvqSwitchPhase {
  /** Row label: direction and the machine state whose effect the fault meets. */
  readonly phase: string;
  readonly direction: 'enable' | 'disable';
  readonly effect: keyof SvqSwitchEffects;
}

export const SVQ_SWITCH_PHASES: readonly SvqSwitchPhase[] = [
  { phase: 'enabling.suspending', direction: 'enable', effect: 'suspendDevice' },
  { phase: 'enabling.readingBases', direction: 'enable', effect: 'readVringBases' },
  { phase: 'enabling.mapping', direction: 'enable', effect: 'mapShadowRings' },
  { phase: 'enabling.pointing', direction: 'enable', effect: 'pointToShadow' },
  { phase: 'enabling.restarting', direction: 'enable', effect: 'resumeDevice' },
  { phase: 'disabling.stopping', direction: 'disable', effect: 'suspendDevice' },
  { phase: 'disabling.draining', direction: 'disable', effect: 'drainShadow' },
  { phase: 'disabling.writingBack', direction: 'disable', effect: 'writeBackIndexes' },
  { phase: 'disabling.unmapping', direction: 'disable', effect: 'unmapShadowRings' },
  { phase: 'disabling.pointing', direction: 'disable', effect: 'pointToGuest' },
  { phase: 'disabling.restarting', direction: 'disable', effect: 'resumeDevice' },
];

interface Env {
  readonly sim: SimVdpaDevice;
  readonly backend: SvqBackend;
  readonly nic: GuestNic;
}

function must<T>(e: E.Either<{ message: string }, T>, what: string): T {
  if (E.isLeft(e)) throw new Error(`fault matrix set-up (${what}): ${e.left.message}`);
  return e.right;
}

/** The device up through machines/device-lifecycle, its data path set up as step 7. */
async function bringUp(): Promise<Env> {
  const sim = new SimVdpaDevice({ maxQueuePairs: 1 });
  must(sim.setOwner(), 'owner');
  must(sim.setBackendFeatures(must(sim.getBackendFeatures(), 'backend features')), 'backend features');
  const wanted = must(sim.getFeatures(), 'features') & ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
  const started = must(await startDevice(sim, { wanted }, (negotiated) => createDataPath(sim, { queues: QUEUES, size: 64, negotiated })), 'bring-up');
  started.actor.stop();
  const path = started.setup;
  const backend = new SvqBackend(path);
  const nic = new GuestNic(path, (qi) => backend.notify(qi));
  must(nic.postRx(0, 16), 'rx buffers');
  return { sim, backend, nic };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Let the device, the call pump and the guest run; reap what came back. */
async function run(env: Env, rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    env.sim.settle();
    await tick();
    env.nic.reap();
  }
}

const stable = (s: { value: unknown }): boolean => s.value === 'passthrough' || s.value === 'shadow' || s.value === 'failed';

/** Map/mode invariants of a settled data path. */
function mappingProblems(env: Env, mode: 'passthrough' | 'shadow'): string[] {
  const bad: string[] = [];
  const b = env.backend;
  const shadowMaps = b.tree.maps().filter((m) => m.kind === 'hva').length;
  const iotlb = env.sim.iotlbEntries(0).length;
  if (b.mode !== mode) bad.push(`machine in ${mode}, data path in ${b.mode}`);
  if (mode === 'passthrough' && (b.shadows.size !== 0 || shadowMaps !== 0 || iotlb !== 1)) {
    bad.push(`passthrough with ${b.shadows.size} shadow queue(s), ${shadowMaps} shadow IOVA map(s), ${iotlb} IOTLB entries (only guest RAM expected)`);
  }
  const ringMaps = QUEUES.length * ringMappings({ indirect: false, cvq: false });
  if (mode === 'shadow' && (b.shadows.size !== QUEUES.length || iotlb !== 1 + ringMaps || shadowMaps !== ringMaps)) {
    bad.push(`shadow with ${b.shadows.size} shadow queue(s), ${shadowMaps} shadow IOVA map(s), ${iotlb} IOTLB entries (guest RAM + ${QUEUES.length} rings of ${ringMappings({ indirect: false, cvq: false })} parts expected)`);
  }
  if (env.sim.isSuspended()) bad.push(`device left suspended in ${mode}`);
  return bad;
}

/** Wrap the effects so the fault is armed when `target` is invoked in the faulted direction. */
function armAt(effects: SvqSwitchEffects, target: keyof SvqSwitchEffects, armed: () => boolean, arm: () => void): SvqSwitchEffects {
  const gate = <I, O>(k: keyof SvqSwitchEffects, f: Effect<I, O>): Effect<I, O> =>
    k !== target
      ? f
      : async (input, signal) => {
          if (armed()) arm();
          return f(input, signal);
        };
  // every effect the machine declares (a new one fails tsc here until it is listed)
  return {
    suspendDevice: gate('suspendDevice', effects.suspendDevice),
    resumeDevice: gate('resumeDevice', effects.resumeDevice),
    readVringBases: gate('readVringBases', effects.readVringBases),
    mapShadowRings: gate('mapShadowRings', effects.mapShadowRings),
    pointToShadow: gate('pointToShadow', effects.pointToShadow),
    drainShadow: gate('drainShadow', effects.drainShadow),
    writeBackIndexes: gate('writeBackIndexes', effects.writeBackIndexes),
    unmapShadowRings: gate('unmapShadowRings', effects.unmapShadowRings),
    pointToGuest: gate('pointToGuest', effects.pointToGuest),
    rollback: gate('rollback', effects.rollback),
  };
}

/** One cell of the svq-switch block. */
export async function svqSwitchCell(p: SvqSwitchPhase, fault: FaultName | 'none', opts: { settleMs?: number } = {}): Promise<Cell> {
  const base = { machine: 'svq-switch', phase: p.phase, fault };
  const rule = fault === 'none' ? undefined : ruleFor(fault);
  if (rule === undefined && fault !== 'none') {
    return { ...base, outcome: 'n/a', fired: false, ok: true, inFlightBefore: 0, inFlightAfter: 0, lost: 0, error: null, namesCommand: false, namesPhase: false, lostFrames: 0, needsReset: false, problems: [] };
  }
  const env = await bringUp();
  const problems: string[] = [];
  let arming = false;
  let inFlightBefore = 0;
  const effects = armAt(svqSwitchEffects(env.backend), p.effect, () => arming, () => {
    arming = false;
    inFlightBefore = env.nic.inFlight();
    env.sim.setFaults(rule === undefined ? [] : [rule]);
    // traffic while the phase runs: a data-queue fault fires on the next frame the device processes
    env.nic.sendTx(1, 2);
  });
  const actor = createActor(bind(svqSwitchMachine, effects), { input: { queues: [...QUEUES] } });
  actor.start();
  // the call pump loops on setImmediate while shadow rings exist: end it with the cell
  const stop = (): void => {
    actor.stop();
    env.backend.stopPump();
  };
  const settle = async (): Promise<{ value: unknown; context: SvqSwitchContext } | undefined> => {
    try {
      return await waitFor(actor, stable, { timeout: opts.settleMs ?? 5000 });
    } catch {
      return undefined;
    }
  };
  // traffic in flight before the switch
  env.nic.sendTx(1, 3);
  if (p.direction === 'disable') {
    actor.send({ type: 'ENABLE', trigger: 'migration' });
    const s = await settle();
    if (s?.value !== 'shadow') {
      stop();
      return { ...base, outcome: 'stuck', fired: false, ok: false, inFlightBefore: 0, inFlightAfter: 0, lost: 0, error: s?.context.error ?? null, namesCommand: false, namesPhase: false, lostFrames: 0, needsReset: false, problems: [`could not reach shadow mode before the fault: ${s === undefined ? 'timeout' : String(s.value)}`] };
    }
    await run(env, 5);
    env.nic.sendTx(1, 3);
  }
  const from = p.direction === 'enable' ? 'passthrough' : 'shadow';
  const to = p.direction === 'enable' ? 'shadow' : 'passthrough';
  arming = true;
  inFlightBefore = env.nic.inFlight();
  actor.send(p.direction === 'enable' ? { type: 'ENABLE', trigger: 'migration' } : { type: 'DISABLE', trigger: 'precopy-failed' });
  const end = await settle();
  const fired = env.sim.faultHits().some((h) => h > 0);
  const error = end?.context.error ?? null;
  const outcome: Outcome = end === undefined ? 'stuck' : end.value === to ? 'completed' : end.value === from ? 'rolled-back' : 'failed';
  const inFlightAfter = env.nic.inFlight();
  const ledger = (): number => env.nic.posted - env.nic.reaped - env.nic.inFlight();
  if (ledger() !== 0) problems.push(`ledger: posted ${env.nic.posted} − reaped ${env.nic.reaped} ≠ in flight ${env.nic.inFlight()}`);
  const needsReset = (E.getOrElse(() => 0)(env.sim.getStatus()) & STATUS.NEEDS_RESET) !== 0;
  if (outcome === 'stuck') problems.push(`run did not settle (still in ${JSON.stringify(actor.getSnapshot().value)})`);
  if (outcome === 'failed' && !needsReset) problems.push(`ended failed without the device needing a reset: ${error}`);
  if (outcome === 'completed' || outcome === 'rolled-back') problems.push(...mappingProblems(env, end!.value as 'passthrough' | 'shadow'));
  const op = fault === 'none' ? undefined : OP_OF[fault];
  const namesCommand = op === undefined || (error !== null && error.includes(op)) || outcome === 'completed';
  // the step the fault fired in (it may fire after the step it was armed at): any step of the switch
  const namesPhase = error !== null && SVQ_SWITCH_PHASES.some((x) => error.includes(x.phase));
  if (outcome === 'rolled-back' && op !== undefined && fired && !namesCommand) problems.push(`error does not name ${op}: ${error}`);
  // recovery: clear faults, the owner resets a failed switch, then every frame must come back
  env.sim.setFaults([]);
  if (outcome === 'failed' || outcome === 'stuck') {
    stop();
    if (needsReset) {
      // the owner resets the device: nothing more to check on the old queues
      return { ...base, outcome, fired, ok: problems.length === 0, inFlightBefore, inFlightAfter, lost: ledger(), error, namesCommand, namesPhase, lostFrames: 0, needsReset, problems };
    }
    const r = env.backend.recover();
    if (E.isLeft(r)) problems.push(`recover: ${r.left.message}`);
  }
  let lostFrames = 0;
  if (!needsReset) {
    await run(env);
    const txLeft = env.backend.path.queues[1]!.driver.inFlight();
    const svqFailed = [...env.backend.shadows.values()].some((s) => s.svq.state === 'failed');
    // a device that lied about a used entry keeps that chain; SVQ reports its queue failed
    if (!(svqFailed && (fault === 'bad-used-id' || fault === 'wrong-used-len'))) lostFrames = txLeft;
  }
  stop();
  return { ...base, outcome, fired, ok: problems.length === 0 && lostFrames === 0, inFlightBefore, inFlightAfter, lost: ledger(), error, namesCommand, namesPhase, lostFrames, needsReset, problems };
}

/** Every row × every column, one cell each, in order (cells run one at a time: they share nothing). */
async function grid<R, C>(rows: readonly R[], cols: readonly C[], cell: (r: R, c: C) => Promise<Cell>, onCell?: (c: Cell) => void): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const r of rows) {
    for (const c of cols) {
      const x = await cell(r, c);
      cells.push(x);
      onCell?.(x);
    }
  }
  return cells;
}

export const svqSwitchMatrix = (onCell?: (c: Cell) => void): Promise<Cell[]> => grid(SVQ_SWITCH_PHASES, FAULT_NAMES, svqSwitchCell, onCell);

const SYMBOL: Record<Outcome, string> = { completed: 'done', 'rolled-back': 'back', error: 'err', failed: 'FAIL', stuck: 'STUCK', 'n/a': '·' };

/** The matrix as text: phases down, faults across; each cell its outcome, `!` when a check failed. */
export function formatMatrix(cells: readonly Cell[]): string {
  const phases = [...new Set(cells.map((c) => `${c.machine} ${c.phase}`))];
  const w = Math.max(...phases.map((p) => p.length));
  const cw = FAULT_NAMES.map((f) => Math.max(f.length, 6));
  const head = `${''.padEnd(w)}  ${FAULT_NAMES.map((f, i) => f.padStart(cw[i]!)).join('  ')}`;
  const lines = phases.map((p) => {
    const row = FAULT_NAMES.map((f, i) => {
      const c = cells.find((x) => `${x.machine} ${x.phase}` === p && x.fault === f);
      const s = c === undefined ? '?' : `${SYMBOL[c.outcome]}${c.needsReset ? 'R' : ''}${c.ok ? '' : '!'}${c.fired || c.outcome === 'n/a' ? '' : '°'}`;
      return s.padStart(cw[i]!);
    });
    return `${p.padEnd(w)}  ${row.join('  ')}`;
  });
  const legend = 'done = completed, back = rolled back, err = typed error (EIO/ETIMEDOUT naming the command), FAIL = ended failed (device NEEDS_RESET), · = fault cannot reach this phase, R = the device was left needing a reset, ! = a check failed, ° = the fault did not fire in this phase (this phase makes no call it can fail; it may fire later)';
  return [head, '-'.repeat(head.length), ...lines, '', legend].join('\n');
}

// ───────────────────────────── CVQ restore (machines/cvq-command) ─────────────────────────────

/** What a CVQ fault must end in: the machine's typed failure kind. */
const CVQ_EXPECT: Partial<Record<FaultName, readonly string[]>> = {
  nack: ['ack-err'],
  'delay-ack': ['timeout'],
  'no-answer': ['timeout'],
  'wrong-used-len': ['wrong-length'],
  'bad-used-id': ['device'],
  'needs-reset': ['needs-reset'],
};

/** The command the CVQ faults aim at, and the state whose restore plan carries it mid-way. */
const CVQ_TARGET = 'VLAN_ADD';
// on the simulator an unanswered wait costs no wall time (its clock advances by the waited slices): the
// bound only has to outlast a loaded host between a kick and its call
const CVQ_TIMEOUT_MS = 1000;

/** `delayUs`: a delayed ack's delay (default: ten times the CVQ rigs' bound — a timeout there). */
function cvqRule(f: FaultName, delayUs = 1000 * CVQ_TIMEOUT_MS * 10): Fault | undefined {
  const match = { commands: [CVQ_TARGET] };
  switch (f) {
    case 'nack':
      return { kind: 'nack', match, times: 1 };
    case 'delay-ack':
      return { kind: 'delay-ack', us: delayUs, match, times: 1 };
    case 'no-answer':
      return { kind: 'no-answer', match, times: 1 };
    case 'wrong-used-len':
      // the ack byte is written, the used length says 0 (a length beyond the writable bytes is a ring error)
      return { kind: 'wrong-used-len', len: 0, match, times: 1 };
    case 'bad-used-id':
      return { kind: 'bad-used-id', match, times: 1 };
    case 'needs-reset':
      return { kind: 'needs-reset', match, times: 1 };
    default:
      return undefined; // suspend/resume/IOTLB faults and CANCEL do not reach a CVQ restore
  }
}

export const CVQ_PHASES: readonly CvqStrategy[] = ['serial', 'parallel', 'parallel-indirect'];

/** The device up through machines/device-lifecycle, the shadow CVQ set up as its step 7. */
async function cvqBringUp(): Promise<{ sim: SimVdpaDevice; engine: CvqEngine; negotiated: bigint }> {
  const sim = new SimVdpaDevice({});
  must(sim.setOwner(), 'owner');
  const started = must(await startShadowCvq(sim, must(sim.getFeatures(), 'features') & ~F.RING_PACKED), 'shadow CVQ');
  started.actor.stop();
  return { sim, engine: new CvqEngine(sim, started.cvq), negotiated: started.negotiated };
}

/** A source state whose restore plan has commands before and after the VLAN ones. */
function restoreState(): NetDeviceState {
  const s = resetNetState('02:00:00:00:00:42');
  return { ...s, queuePairs: 4, vlanFilter: vlanFilterOf([5, 100, 4000]), rxMode: { ...s.rxMode, promisc: true, allmulti: true }, coalescing: { tx: { maxPackets: 3, maxUsecs: 9 }, rx: { maxPackets: 4, maxUsecs: 16 } } };
}

export async function cvqCell(strategy: CvqStrategy, fault: FaultName): Promise<Cell> {
  const base = { machine: 'cvq-command', phase: `restore (${strategy})`, fault };
  const rule = cvqRule(fault);
  const none = { inFlightBefore: 0, inFlightAfter: 0, lost: 0, lostFrames: 0, needsReset: false };
  if (rule === undefined) return { ...base, ...none, outcome: 'n/a', fired: false, ok: true, error: null, namesCommand: false, namesPhase: false, problems: [] };
  const { sim, engine, negotiated } = await cvqBringUp();
  const plan = planRestore(restoreState(), negotiated).map(toCvqCommand);
  const target = plan.findIndex((c) => c.name.startsWith(CVQ_TARGET));
  sim.setFaults([rule]);
  const problems: string[] = [];
  let out: CvqCommandOutput;
  try {
    out = await runCvqCommands(engine, plan, { strategy, ackTimeoutMs: CVQ_TIMEOUT_MS });
  } catch (e) {
    return { ...base, ...none, outcome: 'stuck', fired: true, ok: false, error: String(e), namesCommand: false, namesPhase: false, problems: [`the run threw: ${String(e)}`] };
  }
  const fired = sim.faultHits().some((h) => h > 0);
  const f = out.failure;
  const error = f === null ? null : `${f.errno} ${f.kind} #${f.index} ${f.command}: ${f.message}`;
  if (target < 0) problems.push(`the plan has no ${CVQ_TARGET}`);
  if (!fired) problems.push('the fault never fired');
  if (out.ok || f === null) problems.push(`the restore reported success although ${CVQ_TARGET} was faulted`);
  else if (!CVQ_EXPECT[fault]!.includes(f.kind)) problems.push(`ended ${f.kind}, expected ${CVQ_EXPECT[fault]!.join(' or ')}`);
  // only commands acked OK count as applied, and the faulted one never is
  if (out.applied > target) problems.push(`${out.applied} commands reported applied, past the faulted #${target}`);
  // a timeout or a broken ring stops the whole batch: it is named by its first command
  const batchWide = f !== null && (f.kind === 'timeout' || f.kind === 'device');
  const namesCommand = f !== null && (f.command.includes(CVQ_TARGET) || (batchWide && f.index <= target));
  if (f !== null && !namesCommand) problems.push(`failure names #${f.index} "${f.command}", not the faulted ${CVQ_TARGET} (#${target})`);
  const needsReset = (E.getOrElse(() => 0)(sim.getStatus()) & STATUS.NEEDS_RESET) !== 0;
  return { ...base, ...none, needsReset, outcome: out.ok ? 'completed' : 'error', fired, ok: problems.length === 0, error, namesCommand, namesPhase: f !== null, problems };
}

export const cvqMatrix = (onCell?: (c: Cell) => void): Promise<Cell[]> => grid(CVQ_PHASES, FAULT_NAMES, cvqCell, onCell);

// ───────────────────────────── migration (machines/migration via src/migrate) ─────────────────────────────

/** The fault rule aimed at a migration: CVQ faults at the destination's VLAN commands, device faults. */
function migrationRule(f: FaultName): Fault | undefined {
  switch (f) {
    case 'nack':
    case 'delay-ack':
    case 'no-answer':
    case 'wrong-used-len':
    case 'bad-used-id':
    case 'needs-reset':
      // a delayed ack well inside the migration's own ack bound (ACK_TIMEOUT_MS): answered late, completed
      return cvqRule(f, (1000 * ACK_TIMEOUT_MS) / 5);
    case 'suspend-fails':
    case 'resume-fails':
    case 'iotlb-map-fails':
      return ruleFor(f);
    default:
      return undefined; // cancel: an event, not a device rule
  }
}


export interface MigrationCellOptions {
  readonly ramBytes?: number;
  readonly frames?: number;
}

/**
 * One migration run on two simulated devices with the fault armed when `phase` is entered (device
 * faults on the end running that phase; CVQ faults always at the destination, whose CVQ they reach), or
 * CANCEL sent on entry. Checks: completed (state and RAM equal at the destination, nothing lost) or
 * rolled back (the source keeps its state and every in-flight frame, runs, not suspended); the error
 * names the phase and the command.
 */
export async function migrationCell(phase: MigrationPhase, fault: FaultName, o: MigrationCellOptions = {}): Promise<Cell> {
  const base = { machine: 'migration', phase, fault };
  const none = { inFlightBefore: 0, inFlightAfter: 0, lost: 0, lostFrames: 0, needsReset: false };
  const rule = migrationRule(fault);
  const source = new SimVdpaDevice({ name: 'src' });
  const destination = new SimVdpaDevice({ name: 'dst' });
  const state = decodeStateJson(demoStateJson());
  if (E.isLeft(state)) return { ...base, ...none, outcome: 'stuck', fired: false, ok: false, error: state.left.message, namesCommand: false, namesPhase: false, problems: ['demo state does not decode'] };
  const src = SOURCE_PHASES.includes(phase);
  // An effect's first uAPI call runs synchronously when its state is entered, before any observer sees
  // the transition: a device fault is armed when the phase *before* it begins (or from the start for
  // an end's first phase), and the cell records the phase the run was in when the fault fired.
  const order = src ? SOURCE_PHASES : DESTINATION_PHASES;
  const armAt = fault === 'cancel' ? phase : order[order.indexOf(phase) - 1];
  let entered = false;
  let inFlightBefore = 0;
  let guest: { inFlight(): number } | undefined;
  let srcBackend: SvqBackend | undefined;
  let srcAsid = 0;
  const faulted = (): SimVdpaDevice => (rule !== undefined && isCvqFault(rule.kind) ? destination : src ? source : destination);
  let armed = false;
  const arm = (): void => {
    armed = true;
    inFlightBefore = guest?.inFlight() ?? 0;
    if (rule !== undefined) faulted().setFaults([rule]);
  };
  const r = await runMigration(withTestPoints({
    source,
    destination,
    state: state.right,
    features: FULL_PROFILE_FEATURES,
    strategy: 'parallel',
    ramBytes: o.ramBytes ?? 4 << 20,
    framesBefore: o.frames ?? 300,
    framesAfter: o.frames ?? 300,
    onWorld: (w) => {
      guest = { inFlight: () => w.source.path.queues.reduce((n, q) => n + q.driver.inFlight(), 0) };
      srcBackend = w.source.backend;
      srcAsid = w.source.path.asid;
      // an end's first phase: armed once both ends are up, before anything migrates
      if (armAt === undefined) arm();
    },
    onTransition: (t) => {
      if ((t.end === 'source') !== src) return;
      if (t.to === phase && t.from !== phase) entered = true;
      if (armed || t.to !== armAt || t.from === armAt) return;
      arm();
    },
  }, fault === 'cancel' ? { cancelAt: phase } : {}));
  if (E.isLeft(r)) return { ...base, ...none, outcome: 'stuck', fired: armed, ok: false, error: r.left.message, namesCommand: false, namesPhase: false, problems: [`${r.left.where}: ${r.left.message}`] };
  const s = r.right;
  const fired = fault === 'cancel' ? armed : source.faultHits().some((h) => h > 0) || destination.faultHits().some((h) => h > 0);
  const problems: string[] = [];
  const outcome: Outcome = s.outcome;
  // where the run stopped (the phase the fault fired in, when it ended the run)
  const endedIn = [...s.phases].reverse().find((p) => (p.end === 'source') === src)?.phase;
  const firedHere = fired && (outcome === 'completed' || endedIn === phase || fault === 'cancel');
  if (!entered && outcome === 'completed') problems.push(`the run never entered ${phase}`);
  if (outcome === 'failed') problems.push(`ended failed: ${s.error}`);
  if (outcome === 'completed') {
    if (s.verdict.stateEqual !== true || s.verdict.ramEqual !== true) problems.push(`completed with state equal ${s.verdict.stateEqual}, RAM equal ${s.verdict.ramEqual}: ${s.verdict.differences.join('; ')}`);
  }
  if (outcome === 'rolled-back') {
    if (s.verdict.sourceIntact !== true) problems.push('rolled back but the source is not intact');
    if (source.isSuspended()) problems.push('the source was left suspended');
    // nothing mapped that should not be: the source's data path is passthrough again, shadow rings gone
    const b = srcBackend;
    const shadowMaps = b === undefined ? -1 : b.tree.maps().filter((m) => m.kind === 'hva').length;
    const iotlb = source.iotlbEntries(srcAsid).length;
    if (b === undefined || b.mode !== 'passthrough' || b.shadows.size !== 0 || shadowMaps !== 0 || iotlb !== 1) {
      problems.push(`rolled back with the source in ${b?.mode}, ${b?.shadows.size} shadow queue(s), ${shadowMaps} shadow IOVA map(s), ${iotlb} IOTLB entries in ASID ${srcAsid} (only guest RAM expected)`);
    }
  }
  if (s.traffic.lost !== 0) problems.push(`${s.traffic.lost} frame(s) lost`);
  if (s.traffic.errors.length > 0) problems.push(`traffic errors: ${s.traffic.errors.slice(0, 3).join('; ')}`);
  const op = fault === 'cancel' ? 'cancelled' : isCvqFault(fault) ? CVQ_TARGET : OP_OF[fault];
  const error = s.error;
  const namesCommand = outcome === 'completed' || (error !== null && op !== undefined && error.includes(op)) || (error !== null && /ETIMEDOUT|EIO/.test(error) && isCvqFault(fault));
  const namesPhase = error !== null && MIGRATION_PHASES.some((x) => error.includes(x));
  if (fired && outcome === 'rolled-back' && !namesCommand) problems.push(`error does not name ${op}: ${error}`);
  return { ...base, ...none, inFlightBefore, inFlightAfter: guest?.inFlight() ?? 0, outcome, fired: firedHere, ok: problems.length === 0, error, namesCommand, namesPhase, problems };
}

export async function migrationMatrix(onCell?: (c: Cell) => void, o: MigrationCellOptions = {}): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const p of MIGRATION_PHASES) {
    for (const f of FAULT_NAMES) {
      const c = await migrationCell(p, f, o);
      cells.push(c);
      onCell?.(c);
    }
  }
  return cells;
}

// ───────────────────────────── CVQ: a fault on the k-th command, and faults that cannot fire ─────────────────────────────

/** Where in the restore plan the k-th-command cells put their fault. */
export const KTH_POSITIONS = ['first', 'mid-batch', 'batch-end', 'next-batch', 'last'] as const;
export type KthPosition = (typeof KTH_POSITIONS)[number];

/** The CVQ faults aimed at one command (`nth`). */
export const KTH_FAULTS = ['nack', 'delay-ack', 'no-answer', 'wrong-used-len', 'bad-used-id', 'needs-reset'] as const satisfies readonly FaultName[];

/** Commands a batch of the strategy holds on a 256-entry ring (2 descriptors each, or 1 indirect slot). */
const BATCH: Record<CvqStrategy, number> = { serial: 1, parallel: 128, 'parallel-indirect': 256 };

/**
 * A CVQ fault on exactly the `nth` command named `name`: the delay is ten ack timeouts, the wrong used
 * length `len` (default 7: more than the one writable byte, so the length the device claimed is that
 * command's answer).
 */
export function faultOnCommand(f: (typeof KTH_FAULTS)[number], name: string, nth: number, len = 7): Fault {
  const match = { commands: [name] };
  switch (f) {
    case 'nack':
    case 'no-answer':
    case 'bad-used-id':
    case 'needs-reset':
      return { kind: f, match, nth };
    case 'delay-ack':
      return { kind: 'delay-ack', us: 1000 * CVQ_TIMEOUT_MS * 10, match, nth };
    case 'wrong-used-len':
      return { kind: 'wrong-used-len', len, match, nth };
  }
}

const KTH_EXPECT: Record<(typeof KTH_FAULTS)[number], { machine: string; engine?: string }> = {
  nack: { machine: 'ack-err' },
  'delay-ack': { machine: 'timeout', engine: 'timeout' },
  'no-answer': { machine: 'timeout', engine: 'timeout' },
  'wrong-used-len': { machine: 'wrong-length' },
  'bad-used-id': { machine: 'device', engine: 'ring' },
  'needs-reset': { machine: 'needs-reset', engine: 'needs-reset' },
};

/**
 * One restore of the maximal state (≈4100 commands, many batches) with a fault on exactly the k-th
 * command (`@n` of its kind). Checks: the fault fired once; the machine fails with the fault's kind;
 * exactly the commands before k are acked OK by the engine; and the failure is blamed on k — by the
 * machine (NACK, wrong length: its index) or by the engine's error that the machine's actor failed with
 * (timeout, NEEDS_RESET: its index; a bad used id: its index when k was the one command left
 * unanswered, else no index and a message saying it cannot be attributed).
 */
export async function cvqKthCell(strategy: CvqStrategy, fault: (typeof KTH_FAULTS)[number], pos: KthPosition): Promise<Cell> {
  const { sim, engine, negotiated } = await cvqBringUp();
  const plan = planRestore(maximalState(), negotiated).map(toCvqCommand);
  const b = BATCH[strategy];
  const k = { first: 0, 'mid-batch': Math.min(plan.length - 1, Math.floor(b / 2) + b), 'batch-end': Math.min(plan.length - 1, 2 * b - 1), 'next-batch': Math.min(plan.length - 1, 2 * b), last: plan.length - 1 }[pos];
  const target = plan[k]!;
  const nth = plan.slice(0, k + 1).filter((c) => c.class === target.class && c.cmd === target.cmd).length;
  const name = target.name.split(' ')[0]!;
  const rule = faultOnCommand(fault, name, nth);
  sim.setFaults([rule]);
  const base = { machine: 'cvq-command k-th', phase: `${strategy} #${k} (${pos})`, fault };
  const none = { inFlightBefore: 0, inFlightAfter: 0, lost: 0, lostFrames: 0 };
  const problems: string[] = [];
  let out: CvqCommandOutput;
  try {
    out = await runCvqCommands(engine, plan, { strategy, ackTimeoutMs: CVQ_TIMEOUT_MS });
  } catch (e) {
    return { ...base, ...none, needsReset: false, outcome: 'stuck', fired: true, ok: false, error: String(e), namesCommand: false, namesPhase: false, problems: [`the run threw: ${String(e)}`] };
  }
  const hits = sim.faultHits()[0] ?? 0;
  if (hits !== 1) problems.push(`the fault fired ${hits}×, expected once`);
  const f = out.failure;
  const expect = KTH_EXPECT[fault];
  if (out.ok || f === null) problems.push('the restore reported success although a command was faulted');
  else if (f.kind !== expect.machine) problems.push(`ended ${f.kind}, expected ${expect.machine}`);
  if (out.applied > k) problems.push(`${out.applied} commands reported applied, past the faulted #${k}`);
  // the device answered everything before k: the engine's acks of this batch say OK for them
  for (const a of engine.acks()) if (a.owner < k && (a.len !== 1 || a.ack !== 0)) problems.push(`#${a.owner} (before the fault) not acked OK: len ${a.len} ack ${a.ack}`);
  const broken = engine.broken;
  let namesCommand: boolean;
  if (expect.engine === undefined) {
    namesCommand = f !== null && f.index === k && f.command === target.name;
  } else if (broken === undefined || broken.kind !== expect.engine) {
    namesCommand = false;
    problems.push(`the engine's error is ${broken?.kind ?? 'none'}, expected ${expect.engine}`);
  } else if (fault === 'bad-used-id' && broken.index === undefined) {
    // attributable only when k was the one command left unanswered
    namesCommand = /cannot be attributed/.test(broken.message);
    if (strategy === 'serial') problems.push('serial: a bad used id with one command in flight was not attributed');
  } else {
    namesCommand = broken.index === k && broken.command === target.name;
  }
  if (!namesCommand) problems.push(`blamed #${broken?.index ?? f?.index} "${broken?.command ?? f?.command}", not the faulted #${k} "${target.name}"`);
  const needsReset = (E.getOrElse(() => 0)(sim.getStatus()) & STATUS.NEEDS_RESET) !== 0;
  const error = broken?.message ?? f?.message ?? null;
  return { ...base, ...none, needsReset, outcome: out.ok ? 'completed' : 'error', fired: hits > 0, ok: problems.length === 0, error, namesCommand, namesPhase: true, problems };
}

export const cvqKthMatrix = (onCell?: (c: Cell) => void, positions: readonly KthPosition[] = KTH_POSITIONS): Promise<Cell[]> =>
  grid(
    CVQ_PHASES.flatMap((s) => positions.map((pos) => [s, pos] as const)),
    KTH_FAULTS,
    ([s, pos], f) => cvqKthCell(s, f, pos),
    onCell,
  );

/** Faults that cannot fire on a restore: a command the plan lacks, `@n` past its matches, an unused ASID. */
export const UNFIREABLE: readonly { readonly spec: string; readonly fault: FaultName; readonly rule: Fault }[] = [
  { spec: 'nack:ANNOUNCE_ACK', fault: 'nack', rule: { kind: 'nack', match: { commands: ['ANNOUNCE_ACK'] } } },
  { spec: 'no-answer:VLAN_ADD@9999', fault: 'no-answer', rule: { kind: 'no-answer', match: { commands: ['VLAN_ADD'] }, nth: 9999 } },
  { spec: 'wrong-used-len:7:MQ_HASH_CONFIG', fault: 'wrong-used-len', rule: { kind: 'wrong-used-len', len: 7, match: { commands: ['MQ_HASH_CONFIG'] } } },
  { spec: 'needs-reset:class=ANNOUNCE', fault: 'needs-reset', rule: { kind: 'needs-reset', match: { classes: ['ANNOUNCE'] } } },
  { spec: 'iotlb-map-fails:7', fault: 'iotlb-map-fails', rule: { kind: 'iotlb-map-fails', asid: 7 } },
];

/**
 * A fault that cannot fire: the restore completes (nothing was faulted), and the device's own count
 * says it never fired — so a caller (the CLI) can report it instead of passing it off as tested.
 */
export async function unfiredCell(strategy: CvqStrategy, u: (typeof UNFIREABLE)[number]): Promise<Cell> {
  const { sim, engine, negotiated } = await cvqBringUp();
  const plan = planRestore(restoreState(), negotiated).map(toCvqCommand);
  sim.setFaults([u.rule]);
  const out = await runCvqCommands(engine, plan, { strategy, ackTimeoutMs: CVQ_TIMEOUT_MS });
  const hits = sim.faultHits()[0] ?? -1;
  const problems: string[] = [];
  if (!out.ok) problems.push(`the restore failed (${out.failure?.message}) although the fault cannot fire`);
  if (hits !== 0) problems.push(`the device counted ${hits} hit(s) for a fault that cannot fire`);
  return {
    machine: 'cvq-command unfireable',
    phase: `${strategy} ${u.spec}`,
    fault: u.fault,
    outcome: out.ok ? 'completed' : 'error',
    fired: hits > 0,
    ok: problems.length === 0,
    inFlightBefore: 0,
    inFlightAfter: 0,
    lost: 0,
    lostFrames: 0,
    needsReset: false,
    error: out.failure?.message ?? null,
    namesCommand: false,
    namesPhase: false,
    problems,
  };
}

export const unfiredMatrix = (onCell?: (c: Cell) => void): Promise<Cell[]> => grid(CVQ_PHASES, UNFIREABLE, unfiredCell, onCell);
