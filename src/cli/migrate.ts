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
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import * as E from 'fp-ts/lib/Either.js';
import { parseSimSpec, validateSpec } from '../device/index.js';
import { parseFault, type Fault } from '../device/sim/faults.js';
import { parseStateJson } from '../state/json.js';
import type { NetDeviceState } from '../state/net-state.js';
import { checkFeatureDependencies, formatFeatures, FULL_PROFILE_FEATURES, parseFeatureList } from '../virtio/features.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import { MIGRATION_PHASES, runMigration, type MigrationPhase, type MigrationSummary } from '../migrate/controller.js';
import { decodeStateJson } from '../state/json.js';
import { demoStateJson } from '../migrate/demo-state.js';
import type { MigrationNote } from '../effects/migration.js';
import { formatSummary, num, summaryJson } from '../migrate/report.js';
import type { TransitionRecord } from '../migrate/transitions.js';

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
  readonly ram: number;
  readonly maxRounds: number;
  readonly threshold: number;
}

export interface MigrateIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** Draw progress bars (stderr is a terminal). */
  readonly tty: boolean;
  /** Where the bars are drawn when `tty` (default process.stderr). */
  readonly barStream?: NodeJS.WritableStream;
  readonly readFile?: (path: string) => string;
}

/** A usage error: the message, exit status 2. */
export class UsageError extends Error {}

// ---- option parsers: each bad value is an InvalidArgumentError (commander prints it, exit 2) ----

const intIn = (what: string, min: number, max: number) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${what} must be an integer in ${min}..${max}`);
  const n = Number(v);
  if (n < min || n > max) throw new InvalidArgumentError(`${what} must be an integer in ${min}..${max}`);
  return n;
};

const faultOpt = (v: string, prev: readonly Fault[]): Fault[] => {
  const f = parseFault(v);
  if (E.isLeft(f)) throw new InvalidArgumentError(f.left.message);
  return [...prev, f.right];
};

const featuresOpt = (v: string): bigint => {
  const f = parseFeatureList(v);
  if (E.isLeft(f)) throw new InvalidArgumentError(f.left.message);
  const d = checkFeatureDependencies(f.right);
  if (E.isLeft(d)) throw new InvalidArgumentError(`inconsistent feature set ${formatFeatures(f.right)}: ${d.left.message}`);
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

function loadState(o: MigrateCliOptions, io: MigrateIo): NetDeviceState {
  if (o.demo === true && o.state !== undefined) throw new UsageError('--demo brings its own state: drop --state, or drop --demo');
  if (o.demo === true) {
    const s = decodeStateJson(demoStateJson());
    if (E.isLeft(s)) throw new UsageError(`the demo state is invalid: ${s.left.message}`);
    return s.right;
  }
  if (o.state === undefined) throw new UsageError('give --state FILE (the device state to migrate) or --demo');
  let text: string;
  try {
    text = (io.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(o.state);
  } catch (e) {
    throw new UsageError(`cannot read state file ${o.state}: ${(e as Error).message}`);
  }
  const s = parseStateJson(text);
  if (E.isLeft(s)) throw new UsageError(`invalid state file ${o.state}:\n${s.left.issues.map((i) => `  ${i.path === '' ? '(document)' : i.path}: ${i.message}`).join('\n')}`);
  return s.right;
}

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
  const state = loadState(o, io);
  const progress = io.tty ? barProgress(io.barStream ?? process.stderr) : lineProgress(io);
  const r = await runMigration({
    source: o.source,
    destination: o.dest,
    state,
    features: o.features ?? FULL_PROFILE_FEATURES,
    strategy: STRATEGIES[o.strategy],
    ramBytes: o.ram << 20,
    maxRounds: o.maxRounds,
    dirtyThresholdPages: o.threshold,
    faults: o.fault,
    ...(o.cancelAt === undefined ? {} : { cancelAt: o.cancelAt }),
    onTransition: (t) => {
      progress.transition(t);
      if (o.events === true) io.stdout(JSON.stringify({ machine: t.machine, end: t.end, from: t.from, to: t.to, event: t.event, t: t.t, state: t.toState }) + '\n');
    },
    onNote: (n) => progress.note(n),
  });
  progress.stop();
  if (E.isLeft(r)) {
    io.stderr(`shadowvq migrate: ${r.left.where}: ${r.left.message}\n`);
    return r.left.where === 'open' ? 2 : 1;
  }
  const s = r.right;
  if (o.json === true) io.stdout(summaryJson(s) + '\n');
  else if (o.events !== true) io.stdout(formatSummary(s));
  else io.stderr(formatSummary(s));
  return exitStatus(s, o.fault.length > 0 || o.cancelAt !== undefined);
}

export function exitStatus(s: MigrationSummary, failureRequested: boolean): number {
  const clean = s.traffic.lost === 0 && s.traffic.errors.length === 0;
  if (s.outcome === 'completed') return s.verdict.stateEqual === true && clean ? 0 : 1;
  if (s.outcome === 'rolled-back' && failureRequested) return s.verdict.sourceIntact === true && clean ? 0 : 1;
  return 1;
}

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
    .addOption(new Option('--fault <spec>', 'inject a simulator fault (repeatable): nack:VLAN_ADD, no-answer[:CMDS], delay-ack:<us>, wrong-used-len:<n>[:CMDS], suspend-fails, resume-fails, iotlb-map-fails').argParser(faultOpt).default([]))
    .addOption(new Option('--cancel-at <phase>', 'send CANCEL when this phase begins').choices(MIGRATION_PHASES))
    .addOption(new Option('--ram <MiB>', 'guest RAM').default(64).argParser(intIn('--ram', 4, 1024)))
    .addOption(new Option('--max-rounds <n>', 'precopy round limit').default(12).argParser(intIn('--max-rounds', 1, 1000)))
    .addOption(new Option('--threshold <pages>', 'stop-and-copy once a round leaves at most this many dirty pages').default(64).argParser(intIn('--threshold', 0, 1 << 30)))
    .action(async (opts: MigrateCliOptions, cmd: Command) => {
      try {
        process.exitCode = await runMigrateCli(opts, { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), tty: process.stderr.isTTY === true });
      } catch (e) {
        if (e instanceof UsageError) cmd.error(`error: ${e.message}`, { exitCode: 2, code: 'shadowvq.usage' });
        throw e;
      }
    });
}
