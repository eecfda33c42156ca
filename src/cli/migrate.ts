/**
 * `shadowvq migrate`: live-migrate a vDPA NIC through SVQ and restore its state through the CVQ —
 * machines/migration on both ends with real effects (src/migrate), guest traffic checked byte for byte.
 *
 *   shadowvq migrate --demo
 *   shadowvq migrate --state FILE [--source sim[:PROFILE]] [--dest sim[:PROFILE]|vdpa:/dev/vhost-vdpa-N]
 *                    [--strategy serial|parallel|indirect] [--features LIST] [--json] [--events]
 *                    [--fault SPEC]… [--cancel-at PHASE] [--ram MIB] [--max-rounds N] [--threshold PAGES]
 *
 * Progress goes to stderr: bars on a terminal, else one line per phase. `--events` prints one JSON line
 * per machine transition on stdout as it happens; `--json` prints the summary as one JSON object.
 * Exit status: 0 when the migration completed with equal state and nothing lost, or when a requested
 * fault / cancel ended in a rollback that left the source intact; 1 otherwise; 2 for bad usage.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import * as E from 'fp-ts/lib/Either.js';
import { openDevice, parseSimSpec, validateSpec, type VdpaDevice } from '../device/index.js';
import type { SvqThreads } from '../effects/svq.js';
import { faultFormsHelp, parseFault, type Fault } from '../device/sim/faults.js';
import { formatIssues, parseStateJson } from '../state/json.js';
import { readBounded } from '../state/read-bounded.js';
import { droppedFields } from '../state/dropped.js';
import { checkLimits } from '../state/validate.js';
import { viewThrough } from '../state/view.js';
import { limitsOf } from '../effects/vdpa-net.js';
import { hasFeature } from '../virtio/features.js';
import { escapeText } from '../state/escape.js';
import { countOpt, COUNT_LIMITS, sanitizeLines } from './args.js';
import type { NetDeviceState } from '../state/net-state.js';
import { checkFeatureDependencies, formatFeatures, FULL_PROFILE_FEATURES, parseFeatureList } from '../virtio/features.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import { MIGRATION_PHASES, runMigration, type MigrationPhase, type MigrationSummary } from '../migrate/controller.js';
import { decodeStateJson } from '../state/json.js';
import { demoStateJson } from '../migrate/demo-state.js';
import type { MigrationNote } from '../effects/migration.js';
import { formatSummary, num, summaryJson } from '../migrate/report.js';
import { entersPhase, type TransitionRecord } from '../migrate/transitions.js';
import { armFaults, checkFaults, faultOutcomes, type FaultOutcome } from '../migrate/faults.js';
import { writeReport } from '../report/index.js';

export const STRATEGIES = { serial: 'serial', parallel: 'parallel', indirect: 'parallel-indirect' } as const satisfies Record<string, CvqStrategy>;

export interface MigrateCliOptions {
  readonly demo?: boolean;
  readonly state?: string;
  readonly source: string;
  readonly dest: string;
  readonly strategy: keyof typeof STRATEGIES;
  readonly features?: bigint;
  readonly json?: boolean;
  readonly events?: boolean;
  readonly fault: readonly Fault[];
  readonly cancelAt?: MigrationPhase;
  /** QEMU's x-svq=on (`always`), or SVQ during the migration only (default). */
  readonly svq?: 'migration' | 'always';
  /** Where SVQ forwarding runs (docs/svq-workers.md); default auto. */
  readonly svqThreads?: SvqThreads;
  readonly ram: number;
  readonly maxRounds: number;
  readonly threshold: number;
  /** Write the HTML report here (src/report). */
  readonly report?: string;
}

export interface MigrateIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** Draw progress bars (stderr is a terminal). */
  readonly tty: boolean;
  /** Where the bars are drawn when `tty` (default process.stderr). */
  readonly barStream?: NodeJS.WritableStream;
  /** Read an input file (default: the bounded reader, src/state/read-bounded.ts). */
  readonly readFile?: (path: string) => string | Promise<string>;
}

/** A usage error: the message, exit status 2. */
export class UsageError extends Error {}

// ---- option parsers: each bad value is an InvalidArgumentError (commander prints it, exit 2) ----

/** At most this many --fault rules in one run (each CVQ command is matched against every rule). */
export const MAX_FAULTS = 32;

const faultOpt = (v: string, prev: readonly Fault[]): Fault[] => {
  if (prev.length >= MAX_FAULTS) throw new InvalidArgumentError(`at most ${MAX_FAULTS} --fault rules in one run`);
  const f = parseFault(v);
  if (E.isLeft(f)) throw new InvalidArgumentError(f.left.message);
  return [...prev, f.right];
};

const featuresOpt = (v: string): bigint => {
  const f = parseFeatureList(v);
  if (E.isLeft(f)) throw new InvalidArgumentError(f.left.message);
  const d = checkFeatureDependencies(f.right);
  if (E.isLeft(d)) throw new InvalidArgumentError(`inconsistent feature set ${formatFeatures(f.right)}: ${d.left.message}`);
  // vhost-vdpa devices are modern virtio devices behind an IOMMU: no device accepts a driver without these
  const missing = (['VERSION_1', 'ACCESS_PLATFORM'] as const).filter((n) => !hasFeature(f.right, n));
  if (missing.length > 0) throw new InvalidArgumentError(`cannot be negotiated: ${formatFeatures(f.right)} lacks ${missing.join(' and ')} (every vhost-vdpa device requires them)`);
  return f.right;
};

const sourceOpt = (v: string): string => {
  const s = parseSimSpec(v.trim());
  if (E.isLeft(s)) throw new InvalidArgumentError(`the source is the embedded simulator (it carries the guest): ${s.left.message}`);
  return v.trim();
};

/** Any registered backend's spec (src/device/registry.ts), checked without opening anything. */
const destOpt = (v: string): string => {
  const s = v.trim();
  const p = validateSpec(s);
  if (E.isLeft(p)) throw new InvalidArgumentError(p.left.message);
  return s;
};

async function loadState(o: MigrateCliOptions, io: MigrateIo): Promise<NetDeviceState> {
  if (o.demo === true && o.state !== undefined) throw new UsageError('--demo brings its own state: drop --state, or drop --demo');
  if (o.demo === true) {
    const s = decodeStateJson(demoStateJson());
    if (E.isLeft(s)) throw new UsageError(`the demo state is invalid: ${s.left.message}`);
    return s.right;
  }
  if (o.state === undefined) throw new UsageError('give --state FILE (the device state to migrate) or --demo');
  let text: string;
  if (io.readFile !== undefined) {
    try {
      text = await io.readFile(o.state);
    } catch (e) {
      throw new UsageError(`cannot read state file ${escapeText(o.state)}: ${escapeText((e as Error).message)}`);
    }
  } else {
    const r = await readBounded(o.state);
    if (E.isLeft(r)) throw new UsageError(`cannot read state file ${r.left.message}`);
    text = r.right;
  }
  const s = parseStateJson(text);
  if (E.isLeft(s)) throw new UsageError(`invalid state file ${escapeText(o.state)}:\n${formatIssues(s.left)}`);
  return s.right;
}

/** Open one end (the simulator or /dev/vhost-vdpa-N); a failure is a usage error naming the flag. */
function openEnd(flag: string, spec: string, sim: { readonly sharedMemory?: boolean } = {}): VdpaDevice {
  const d = openDevice(spec, spec.startsWith('sim') ? sim : {});
  if (E.isLeft(d)) throw new UsageError(`${flag} ${escapeText(spec)}: ${d.left.message}`);
  return d.right;
}

/**
 * The checks before anything is sent: the state as the features let each end hold it must fit that
 * end's limits (config space: RSS key and table sizes, hash types, queue pairs; the MAC table's
 * entries), and what the features drop from the state is said, not silently cut.
 */
function preflight(state: NetDeviceState, wanted: bigint, ends: readonly { flag: string; spec: string; dev: VdpaDevice }[]): string[] {
  const notes: string[] = [];
  let negotiated = wanted;
  const readable: { flag: string; spec: string; dev: VdpaDevice }[] = [];
  for (const end of ends) {
    // a device that answers nothing before it is owned is checked by the migration itself (said, not skipped silently)
    const offered = end.dev.getFeatures();
    if (E.isLeft(offered)) {
      notes.push(`${end.flag} ${escapeText(end.spec)}: its features cannot be read before the migration owns it (${escapeText(offered.left.message)}); its limits are checked by the device`);
      continue;
    }
    negotiated &= offered.right;
    readable.push(end);
  }
  for (const end of readable) {
    const limits = limitsOf(end.dev);
    if (E.isLeft(limits)) {
      notes.push(`${end.flag} ${escapeText(end.spec)}: its limits cannot be read before the migration owns it (${escapeText(limits.left.message)}); they are checked by the device`);
      continue;
    }
    const fits = checkLimits(viewThrough(state, negotiated), limits.right);
    if (E.isLeft(fits)) {
      throw new UsageError(`the state does not fit ${end.flag} ${escapeText(end.spec)} (nothing was sent):\n${fits.left.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    }
  }
  const dropped = droppedFields(state, negotiated);
  if (dropped.length > 0) {
    notes.push(`with features ${formatFeatures(negotiated)} (what ${ends.map((e) => escapeText(e.spec)).join(' and ')} offer of those wanted) the state's ${dropped.join(', ')} cannot be configured and stay at their reset values`);
  }
  return notes;
}

export type { FaultOutcome };

// ---- progress ----

interface Progress {
  transition(t: TransitionRecord): void;
  note(n: MigrationNote): void;
  stop(): void;
}

/** One line per phase on a stream that is not a terminal (CI logs). */
function lineProgress(io: MigrateIo): Progress {
  return {
    transition(t) {
      if (t.machine !== 'migration' || t.from === t.to) return;
      io.stderr(`[${(t.t / 1000).toFixed(2).padStart(6)} s] ${t.end.padEnd(11)} ${t.to}\n`);
    },
    note() {},
    stop() {},
  };
}

/** Bars on a terminal: precopy (pages converging) and the CVQ restore (commands acked). */
function barProgress(stream: NodeJS.WritableStream): Progress {
  const multi = new MultiBar(
    { format: ' {phase} │{bar}│ {info}', stream, hideCursor: true, clearOnComplete: false, barsize: 32, autopadding: true },
    Presets.shades_grey,
  );
  let precopy: SingleBar | undefined;
  let cvq: SingleBar | undefined;
  let bulk = 0;
  return {
    transition(t) {
      if (t.machine !== 'migration' || t.from === t.to) return;
      multi.log(`${t.end.padEnd(11)} → ${t.to}\n`);
    },
    note(n) {
      if (n.kind === 'round') {
        if (precopy === undefined) {
          bulk = n.pagesSent;
          precopy = multi.create(bulk, 0, { phase: 'precopy     ', info: '' });
        }
        precopy.update(Math.max(0, bulk - n.dirtyPages), { info: `round ${n.round} · ${num(n.dirtyPages)} dirty pages left` });
      } else if (n.kind === 'cvq-progress') {
        if (cvq === undefined) cvq = multi.create(n.total, 0, { phase: 'CVQ restore ', info: '' });
        cvq.update(n.applied, { info: `${num(n.applied)}/${num(n.total)} acked · ${n.roundTrips} round trips` });
      }
    },
    stop() {
      // MultiBar.stop() renders the bars but not its log buffer: redraw once so the last phase lines show.
      multi.update();
      multi.stop();
    },
  };
}

/** The command as a function of its options (the commander wrapper only wires I/O); the exit status. */
export async function runMigrateCli(o: MigrateCliOptions, io: MigrateIo): Promise<number> {
  try {
    return await migrateOrRefuse(o, io);
  } catch (e) {
    // --json: even a refusal before the migration starts is one JSON object on stdout
    if (e instanceof UsageError && o.json === true) io.stdout(JSON.stringify({ outcome: 'refused', error: e.message, exitCode: 2 }) + '\n');
    throw e;
  }
}

/** (Long: the command's steps in order — state, devices, preflight, faults, run, output, report.) */
async function migrateOrRefuse(o: MigrateCliOptions, io: MigrateIo): Promise<number> {
  const state = await loadState(o, io);
  const wanted = o.features ?? FULL_PROFILE_FEATURES;
  // SVQ workers share guest RAM and the shadow rings with this thread: the simulator then allocates them on SharedArrayBuffers
  const src = openEnd('--source', o.source, o.svqThreads === 'per-queue-pair' ? { sharedMemory: true } : {});
  const dst = openEnd('--dest', o.dest);
  const notes = preflight(state, wanted, [
    { flag: '--source', spec: o.source, dev: src },
    { flag: '--dest', spec: o.dest, dev: dst },
  ]);
  for (const n of notes) io.stderr(`shadowvq migrate: note: ${n}\n`);
  const progress = io.tty ? barProgress(io.barStream ?? process.stderr) : lineProgress(io);
  const transitions: TransitionRecord[] = [];
  const devices = { source: src, destination: dst };
  const armable = checkFaults(devices, o.fault);
  let cancelSent = false;
  const r = E.isLeft(armable) ? armable : await runMigration({
    source: src,
    destination: dst,
    state,
    features: wanted,
    strategy: STRATEGIES[o.strategy],
    ramBytes: o.ram << 20,
    maxRounds: o.maxRounds,
    dirtyThresholdPages: o.threshold,
    ...(o.svq === 'always' ? { svq: 'always' as const } : {}),
    ...(o.svqThreads === undefined ? {} : { svqThreads: o.svqThreads }),
    // the faults, once both ends are up (bring-up does not trip them); checked above
    onWorld: () => armFaults(devices, o.fault),
    onTransition: (t, control) => {
      // --cancel-at: QEMU's migrate_cancel as the phase begins (the machine's next event)
      if (o.cancelAt !== undefined && !cancelSent && entersPhase(o.cancelAt, t)) {
        cancelSent = true;
        control?.send({ type: 'CANCEL', reason: `--cancel-at ${o.cancelAt}` });
      }
      if (o.report !== undefined) transitions.push(t);
      progress.transition(t);
      if (o.events === true) io.stdout(JSON.stringify({ machine: t.machine, end: t.end, from: t.from, to: t.to, event: t.event, t: t.t, state: t.toState }) + '\n');
    },
    onNote: (n) => progress.note(n),
  });
  progress.stop();
  const faults = faultOutcomes(devices, o.fault);
  const unfired = faults.filter((f) => f.fired === 0 || f.fired === null);
  const unfiredText = unfired.map((f) => `fault ${f.spec} never fired${f.fired === null ? ` (the ${f.end} does not simulate faults)` : ` on the ${f.end}`}`);
  if (E.isLeft(r)) {
    const code = r.left.where === 'open' ? 2 : 1;
    if (o.json === true) io.stdout(JSON.stringify({ outcome: 'failed', error: `${r.left.where}: ${r.left.message}`, exitCode: code, notes, faults }) + '\n');
    io.stderr(`shadowvq migrate: ${sanitizeLines(`${r.left.where}: ${r.left.message}`)}\n`);
    return code;
  }
  const s = r.right;
  const code = unfired.length > 0 ? 1 : exitStatus(s, o.fault.length > 0 || o.cancelAt !== undefined);
  if (o.json === true) {
    io.stdout(JSON.stringify({ ...(JSON.parse(summaryJson(s)) as object), notes, faults, unfiredFaults: unfired.map((f) => f.spec), exitCode: code }) + '\n');
  } else {
    const text = formatSummary(s) + (faults.length > 0 ? faultLines(faults) : '');
    if (o.events !== true) io.stdout(text);
    else io.stderr(text);
  }
  if (unfiredText.length > 0) io.stderr(unfiredText.map((t) => `shadowvq migrate: ${t}: the run did not test it (exit 1, docs/faults.md)\n`).join(''));
  if (o.report !== undefined) {
    const w = await writeReport(o.report, { summary: s, transitions, state, command: 'shadowvq migrate' + (o.demo === true ? ' --demo' : ` --state ${o.state ?? ''}`) });
    if (E.isLeft(w)) {
      io.stderr(`shadowvq migrate: report: ${w.left}\n`);
      return 1;
    }
    io.stderr(`report: ${o.report}\n`);
  }
  return code;
}

function faultLines(faults: readonly FaultOutcome[]): string {
  return faults.map((f) => `fault ${f.spec} (${f.end}): ${f.fired === null ? 'not simulated there, never fired' : f.fired === 0 ? 'NEVER FIRED' : `fired ${f.fired}×`}\n`).join('');
}

export function exitStatus(s: MigrationSummary, failureRequested: boolean): number {
  const clean = s.traffic.lost === 0 && s.traffic.errors.length === 0;
  if (s.outcome === 'completed') return s.verdict.stateEqual === true && clean ? 0 : 1;
  if (s.outcome === 'rolled-back' && failureRequested) return s.verdict.sourceIntact === true && clean ? 0 : 1;
  return 1;
}

const range = (flag: keyof typeof COUNT_LIMITS): string => `${COUNT_LIMITS[flag].min}..${COUNT_LIMITS[flag].max}`;

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('live-migrate a vDPA NIC: SVQ on, dirty-page precopy, stop-and-copy, CVQ state restore at the destination, verdict')
    .option('--demo', 'the demo: a rich device state (4 queue pairs, RSS, 300 VLANs …) on the embedded simulator, live traffic on every queue')
    .option('--state <file>', 'device state JSON to migrate (see `shadowvq plan` and examples/state.json)')
    .addOption(new Option('--source <device>', 'source device: sim or sim:<profile> (it carries the guest)').default('sim').argParser(sourceOpt))
    .addOption(new Option('--dest <device>', 'destination: sim, sim:<profile> or vdpa:/dev/vhost-vdpa-N').default('sim').argParser(destOpt))
    .addOption(new Option('--strategy <strategy>', 'CVQ restore: one command per kick, a ring full per kick, or one indirect slot per command').choices(Object.keys(STRATEGIES)).default('parallel'))
    .addOption(new Option('--features <list>', 'features the guest wants: names (CTRL_VQ,MQ,RSS,…) or a 0x mask; default: the full profile').argParser(featuresOpt))
    .option('--json', 'print the summary as one JSON object')
    .option('--events', 'print every machine transition as a JSON line as it happens')
    .addOption(new Option('--fault <spec>', 'inject a simulator fault (repeatable; forms below, docs/faults.md); a fault that never fires makes the exit status 1').argParser(faultOpt).default([]))
    .addOption(new Option('--cancel-at <phase>', 'send CANCEL when this phase begins').choices(MIGRATION_PHASES))
    .addOption(new Option('--svq <when>', "SVQ on the source's data queues: during the migration only, or always (QEMU x-svq=on: switched on before it and kept on)").choices(['migration', 'always']).default('migration'))
    .addOption(new Option('--svq-threads <where>', 'where SVQ forwarding runs: the main thread, one worker thread per queue pair, or auto (docs/svq-workers.md)').choices(['auto', 'main', 'per-queue-pair']).default('auto'))
    .addOption(new Option('--ram <MiB>', `guest RAM, ${range('--ram')}`).default(64).argParser(countOpt('--ram')))
    .addOption(new Option('--max-rounds <n>', `precopy round limit, ${range('--max-rounds')}`).default(12).argParser(countOpt('--max-rounds')))
    .option('--report <file.html>', 'write a self-contained HTML report: the machine\'s path, timeline, rounds, downtime, CVQ, traffic, verdict')
    .addOption(new Option('--threshold <pages>', `stop-and-copy once a round leaves at most this many dirty pages, ${range('--threshold')}`).default(64).argParser(countOpt('--threshold')))
    .addHelpText('after', `\nFault forms (--fault SPEC; COMMANDS: names as \`shadowvq plan\` prints them, comma-separated, or class=VLAN;\n@<n>: only the n-th matching command):\n${faultFormsHelp()}\n`)
    .action(async (opts: MigrateCliOptions, cmd: Command) => {
      try {
        process.exitCode = await runMigrateCli(opts, { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), tty: process.stderr.isTTY === true });
      } catch (e) {
        if (e instanceof UsageError) {
          try {
            cmd.error(`error: ${e.message}`, { exitCode: 2, code: 'shadowvq.usage' });
          } catch (ce) {
            // runMigrateCli already printed the refusal as JSON
            if (opts.json === true) Object.assign(ce as object, { jsonPrinted: true });
            throw ce;
          }
        }
        throw e;
      }
    });
}
