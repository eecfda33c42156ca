/**
 * `shadowvq mbt [--device sim|scripted] [--json] [--simple-limit N] [--walks N --seed S] [--report FILE.html]`:
 * generate the model-based test paths of every machine and run them, then a path for every
 * transition pair no path took (src/mbt/coverage.ts); print per machine states, transitions, transition
 * pairs and guard outcomes covered / total, paths run and failures (a progress bar on a terminal's
 * stderr), and every transition no run can take on that harness with the reason. `--walks N` adds N
 * random walks per machine (fast-check, shrunk; a failing one is written as a path file), `--replay FILE`
 * replays such a file step by step, `--report` writes the conformance report (src/report/mbt.ts).
 * Exit status 1 on any failure, uncovered state, transition or pair not named impossible / infeasible,
 * 2 on a usage error or a bad path file.
 *
 * `shadowvq mbt --device vdpa:/dev/vhost-vdpa-N [--compare sim:PROFILE]` (or `--device sim:<profile>`):
 * the conformance run on a device (src/mbt/device.ts), every step compared with the simulator profile.
 * Exit 1 on a failure or a difference that is no known quirk, 2 when the device or the user is refused.
 */
import type { Command } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice } from '../device/sim/device.js';
import { coverageComplete, runCoverage, type CoverageReport } from '../mbt/coverage.js';
import { probeConformance, type Conformance } from '../mbt/coverage-conformance.js';
import { mbtJson, planMbt, reportComplete, type MachineReport, type PlannedMachine } from '../mbt/index.js';
import { deviceReportPasses, runDeviceMbt, type DeviceMbtOptions, type DeviceMbtReport } from '../mbt/device.js';
import { deriveModel } from '../mbt/model.js';
import { decodePathFile, pathOf, toPathFile } from '../mbt/replay.js';
import { edgeKey, runPath } from '../mbt/runner.js';
import { MACHINES } from '../../machines/index.js';
import { openDevice } from '../device/registry.js';
import { runWalks, type WalkReport } from '../mbt/walks.js';
import { renderMbtReport } from '../report/mbt.js';
import { readBounded } from '../state/read-bounded.js';
import { harnessesFor, MBT_DEVICES, type MbtDevice } from '../mbt/harnesses.js';
import { quoteText } from '../state/escape.js';
import { COUNT_LIMITS, parseCount } from './args.js';

export interface MbtCliOptions {
  readonly device?: string;
  readonly compare?: string;
  readonly json?: boolean;
  readonly simpleLimit?: string;
  readonly progress?: boolean;
  readonly walks?: string;
  readonly seed?: string;
  /** Where a failing walk's path file goes (default: the current directory). */
  readonly walkDir?: string;
  readonly replay?: string;
  readonly report?: string;
}

export interface MbtCliOutput {
  readonly code: 0 | 1 | 2;
  readonly stdout: string;
  readonly stderr: string;
  readonly reports: readonly MachineReport[];
  /** The conformance run's report (`--device vdpa:…`). */
  readonly device?: DeviceMbtReport;
}

const usage = (message: string): MbtCliOutput => ({ code: 2, stdout: '', stderr: `shadowvq mbt: ${message}\n`, reports: [] });

export function formatMbtText(reports: readonly MachineReport[], effects: readonly MbtDevice[]): string {
  const w = Math.max(...reports.map((r) => r.id.length));
  const rows = reports.map((r, i) => {
    const cells = [
      r.id.padEnd(w),
      `states ${`${r.states.covered}/${r.states.total}`.padStart(5)}`,
      `transitions ${`${r.transitions.covered}/${r.transitions.total}`.padStart(5)}`,
      `paths ${String(r.paths).padStart(4)}`,
      `failures ${r.failures}`,
      `effects ${effects[i]}`,
    ];
    const notes = [
      ...(r.skipped ? [`${r.skipped} infeasible path(s) skipped`] : []),
      ...(r.simpleTruncated ? [`${r.simpleTotal} simple paths > limit, not run`] : []),
    ];
    return `${cells.join('  ')}${notes.length ? `  (${notes.join('; ')})` : ''}\n`;
  });
  const details = reports.flatMap((r) => [
    ...r.failureDetails.slice(0, 10).map((f) => `FAIL ${r.id}: ${f.path}\n     step ${f.step}: ${f.message}\n`),
    ...r.uncoveredStates.filter((s) => !r.impossible.some((i) => i.edge === s)).map((s) => `UNCOVERED state ${s}\n`),
    ...r.uncoveredTransitions.filter((t) => !r.impossible.some((i) => i.edge === t)).map((t) => `UNCOVERED transition ${t}\n`),
    ...r.impossible.map((i) => `IMPOSSIBLE ${i.edge} (${effects[reports.indexOf(r)]}): ${i.reason}\n`),
  ]);
  return rows.join('') + details.join('');
}

export async function runMbtCli(opts: MbtCliOptions, run: Partial<DeviceMbtOptions> = {}): Promise<MbtCliOutput> {
  if (isConformanceRun(opts.device)) return deviceRunWithReport(opts, run);
  if (opts.compare !== undefined) return usage('--compare needs --device vdpa:/dev/vhost-vdpa-N (or sim:<profile>): it names what a device run is compared with');
  const device = (opts.device ?? 'sim') as MbtDevice;
  if (!MBT_DEVICES.includes(device)) return usage(`--device: expected one of ${MBT_DEVICES.join(', ')}, got ${quoteText(String(opts.device), 40)}`);
  let simpleLimit: number | undefined;
  let walks: { walks: number; seed: number } | undefined;
  try {
    if (opts.simpleLimit !== undefined) simpleLimit = parseCount('--simple-limit', opts.simpleLimit);
    walks = walkOptions(opts);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (opts.replay !== undefined) return replayCli(opts.replay, device);
  const choices = harnessesFor(device);
  const plans = planMbt(
    choices.map((c) => c.harness),
    simpleLimit === undefined ? {} : { simpleLimit },
  );
  const bars = opts.progress === false ? undefined : new MultiBar({ format: ' {machine} [{bar}] {value}/{total} paths', stream: process.stderr, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
  const reports: MachineReport[] = [];
  const covered: CoveredRun[] = [];
  for (const plan of plans) {
    const bar = bars?.create(plan.paths.length, 0, { machine: plan.model.id.padEnd(16) });
    const c = await runCoverage(plan, { onPath: (_, done) => bar?.update(done) });
    reports.push(c.report);
    covered.push({ plan, report: c.report, coverage: c.coverage, ...(walks === undefined ? {} : await walkMachine(plan, walks, device, opts.walkDir ?? '.')) });
  }
  bars?.stop();
  const conformance = device === 'sim' && (opts.report !== undefined || opts.json === true) ? await simConformance() : null;
  const bad = covered.some((c) => !reportComplete(c.report) || !coverageComplete(c.coverage) || c.walks?.failure !== undefined);
  const text = formatMbtText(reports, choices.map((c) => c.effects)) + formatCoverageText(covered);
  let stderr = '';
  if (opts.report !== undefined) {
    const page = await renderMbtReport({
      device,
      command: `shadowvq mbt --device ${device}${walks ? ` --walks ${walks.walks} --seed ${walks.seed}` : ''} --report ${opts.report}`,
      conformance,
      machines: covered.map((c) => ({ machine: c.plan.model.machine, report: c.report, coverage: c.coverage, differences: [], ...(c.walks ? { walks: c.walks } : {}), ...(c.walkFile ? { walkFile: c.walkFile } : {}) })),
    });
    if (E.isLeft(page)) return { code: 1, stdout: '', stderr: `shadowvq mbt: report: ${page.left}\n`, reports };
    try {
      writeFileSync(opts.report, page.right);
    } catch (e) {
      return { code: 1, stdout: '', stderr: `shadowvq mbt: cannot write ${quoteText(opts.report, 80)}: ${(e as Error).message}\n`, reports };
    }
    stderr += `report written to ${opts.report}\n`;
  }
  return {
    code: bad ? 1 : 0,
    stdout: opts.json === true ? `${JSON.stringify(mbtCoverageJson(covered, conformance))}\n` : text,
    stderr: (opts.json === true && bad ? text : '') + stderr,
    reports,
  };
}

// ---------------------------------------------------------------------------------------------------
// the conformance run on a device (`--device vdpa:/dev/vhost-vdpa-N | sim:<profile>`)

/** A device spec (not the `sim` / `scripted` harnesses): the conformance run. */
const isConformanceRun = (device: string | undefined): device is string => device !== undefined && (device.startsWith('vdpa:') || device.startsWith('sim:'));

const shown = (x: unknown): string => (x === undefined ? '—' : JSON.stringify(x));

export function formatDeviceText(r: DeviceMbtReport): string {
  const head = `${r.device} compared with ${r.compare} (${r.compareChosen}); offers ${r.offer.featureNames.join(' ')}\n`;
  const w = Math.max(...r.machines.map((m) => m.id.length), 1);
  const rows = r.machines.map((m) =>
    [
      m.id.padEnd(w),
      `states ${`${m.states.covered}/${m.states.total}`.padStart(5)}`,
      `transitions ${`${m.transitions.covered}/${m.transitions.total}`.padStart(5)}`,
      `paths ${String(m.paths).padStart(4)}`,
      `steps ${String(m.steps).padStart(5)}`,
      `differences ${m.differences.filter((d) => d.quirk === undefined).length}`,
      `infeasible ${m.infeasible.length}`,
      `failures ${m.failures}`,
    ].join('  ') + '\n',
  );
  const details = r.machines.flatMap((m) => {
    const reasons = new Map<string, number>();
    for (const i of m.infeasible) reasons.set(i.reason, (reasons.get(i.reason) ?? 0) + 1);
    return [
      ...(m.unsupported === undefined ? [] : [`UNSUPPORTED ${m.id}: ${m.unsupported}\n`]),
      ...m.differences.slice(0, 10).map((d) => `${d.quirk === undefined ? 'DIFF' : `QUIRK ${d.quirk}`} ${m.id}: ${d.path}\n     step ${d.step}\n     device ${shown(d.device)}\n     sim    ${shown(d.sim)}\n`),
      ...m.failureDetails.slice(0, 10).map((f) => `FAIL ${m.id} (${f.side}): ${f.path}\n     step ${f.step}: ${f.message}\n`),
      ...(m.unsupported === undefined ? [...reasons].slice(0, 8).map(([reason, n]) => `INFEASIBLE ${m.id}: ${n} path(s): ${reason}\n`) : []),
      ...(m.unsupported === undefined && reasons.size > 8 ? [`INFEASIBLE ${m.id}: ${reasons.size - 8} more reason(s) (--json lists every path)\n`] : []),
      ...(m.unsupported === undefined ? m.uncoveredTransitions.map((t) => `UNCOVERED ${m.id} transition ${t}\n`) : []),
    ];
  });
  const end = [
    ...(r.interrupted ? ['INTERRUPTED: not every path ran\n'] : []),
    r.finalStatus === 0 ? 'device left reset (status 0)\n' : `DEVICE NOT RESET: status ${String(r.finalStatus)}\n`,
    ...(r.mac.problem !== undefined ? [`MAC NOT RESTORED: ${r.mac.problem}\n`] : r.mac.after !== r.mac.before ? [`MAC NOT RESTORED: ${String(r.mac.before)} before, ${String(r.mac.after)} after\n`] : []),
  ];
  return head + rows.join('') + details.join('') + end.join('');
}

/** The `--json` document of a conformance run: today's per-machine fields, `steps`, `failureDetails`, `differences`, `infeasible`, and the device. */
export const deviceJson = (r: DeviceMbtReport) => ({
  machines: r.machines.map((m) => ({
    id: m.id,
    states: m.states,
    transitions: m.transitions,
    paths: m.paths,
    failures: m.failures,
    // what no run took on this device (its infeasible paths say why)
    impossible: m.uncoveredTransitions,
    steps: m.steps,
    failureDetails: m.failureDetails,
    differences: m.differences,
    infeasible: m.infeasible,
    ...(m.unsupported === undefined ? {} : { unsupported: m.unsupported }),
  })),
  device: { spec: r.device, compare: r.compare, compareChosen: r.compareChosen, features: `0x${r.offer.features.toString(16)}`, backendFeatures: `0x${r.offer.backend.toString(16)}`, finalStatus: r.finalStatus, mac: r.mac, interrupted: r.interrupted },
});

async function runConformanceCli(opts: MbtCliOptions, run: Partial<DeviceMbtOptions>): Promise<MbtCliOutput> {
  if (opts.simpleLimit !== undefined) return usage('--simple-limit applies to --device sim|scripted; a device run plans the paths itself');
  const bars = opts.progress === false ? undefined : new MultiBar({ format: ' {machine} [{bar}] {value}/{total} paths', stream: process.stderr, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
  const bar = new Map<string, ReturnType<MultiBar['create']>>();
  const r = await runDeviceMbt({
    ...run,
    device: opts.device!,
    ...(opts.compare === undefined ? {} : { compare: opts.compare }),
    onPath: (machine, done, total) => {
      if (bars === undefined) return;
      let b = bar.get(machine);
      if (b === undefined) bar.set(machine, (b = bars.create(total, 0, { machine: machine.padEnd(16) })));
      b.setTotal(Math.max(total, done));
      b.update(done);
    },
  });
  bars?.stop();
  if (E.isLeft(r)) return usage(r.left.message);
  const text = formatDeviceText(r.right);
  const ok = deviceReportPasses(r.right);
  return {
    code: ok ? 0 : 1,
    stdout: opts.json === true ? `${JSON.stringify(deviceJson(r.right))}\n` : text,
    stderr: opts.json === true && !ok ? text : '',
    reports: [],
    device: r.right,
  };
}

// ---------------------------------------------------------------------------------------------------
// Coverage beyond states and transitions, random walks, replay, the conformance facts (src/mbt/coverage*.ts)

interface CoveredRun {
  readonly plan: PlannedMachine;
  readonly report: MachineReport;
  readonly coverage: CoverageReport;
  readonly walks?: WalkReport;
  readonly walkFile?: string;
}

/** `--walks N --seed S` (the seed defaults to 0: a run is reproducible unless asked otherwise). */
function walkOptions(opts: MbtCliOptions): { walks: number; seed: number } | undefined {
  if (opts.walks === undefined) {
    if (opts.seed !== undefined) throw new Error('--seed needs --walks');
    return undefined;
  }
  return { walks: parseCount('--walks', opts.walks, 1, 100_000), seed: opts.seed === undefined ? 0 : parseCount('--seed', opts.seed) };
}

async function walkMachine(plan: PlannedMachine, w: { walks: number; seed: number }, device: string, dir: string): Promise<{ walks: WalkReport; walkFile?: string }> {
  const r = await runWalks(plan.model, plan.harness, w);
  if (r.failure === undefined) return { walks: r };
  const file = join(dir, `shadowvq-walk-${plan.model.id}-seed${w.seed}.json`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(toPathFile(plan.model, r.failure.path, device, w.seed, { step: r.failure.failure.step, message: r.failure.failure.message }), null, 2)}\n`);
  return { walks: r, walkFile: file };
}

/** The conformance facts of the simulator the sim harnesses run on (its default profile), each probe on a fresh device. */
const simConformance = (): Promise<Conformance> =>
  probeConformance('sim (profile full)', () => {
    const d = new SimVdpaDevice({ profile: 'full' });
    const o = d.setOwner();
    return E.isLeft(o) ? E.left(o.left.message) : E.right(d);
  });

export function formatCoverageText(cs: readonly CoveredRun[]): string {
  const w = Math.max(...cs.map((c) => c.report.id.length));
  return cs
    .flatMap((c) => {
      const p = c.coverage.transitionPairs;
      const g = c.coverage.guards;
      const walk = c.walks === undefined ? '' : `  walks ${c.walks.walks}${c.walks.failure ? ` FAILED (shrunk ${c.walks.failure.shrinks}×) → ${c.walkFile ?? '?'}` : ' ok'}`;
      return [
        `${c.report.id.padEnd(w)}  pairs ${`${p.covered}/${p.total}`.padStart(7)} (${p.infeasible} infeasible)  guard outcomes ${`${g.covered}/${g.total}`.padStart(5)}${walk}\n`,
        ...p.uncovered.slice(0, 10).map((u) => `UNCOVERED pair ${u}\n`),
        ...g.unseen.filter((x) => !x.reason.startsWith('on this device')).map((x) => `UNSEEN guard outcome ${x.guard} = ${x.outcome}\n`),
        ...(c.walks?.failure ? [`FAIL ${c.report.id} (random walk): ${c.walks.failure.path.description}\n     step ${c.walks.failure.failure.step}: ${c.walks.failure.failure.message}\n`] : []),
      ];
    })
    .join('');
}

/** The `--json` document: today's fields (src/mbt/index.ts `mbtJson`), then pairs, guards, differences, walks; the device's conformance facts. */
export function mbtCoverageJson(cs: readonly CoveredRun[], conformance: Conformance | null) {
  const base = mbtJson(cs.map((c) => c.report)).machines;
  return {
    machines: cs.map((c, i) => ({
      ...base[i]!,
      transitionPairs: { covered: c.coverage.transitionPairs.covered, total: c.coverage.transitionPairs.total, infeasible: c.coverage.transitionPairs.infeasible, infeasiblePairs: c.coverage.transitionPairs.infeasiblePairs, uncovered: c.coverage.transitionPairs.uncovered },
      guards: { covered: c.coverage.guards.covered, total: c.coverage.guards.total, unseen: c.coverage.guards.unseen, notModelled: c.coverage.guards.notModelled },
      ...(c.walks === undefined ? {} : { walks: { walks: c.walks.walks, runs: c.walks.runs, skipped: c.walks.skipped, failed: c.walks.failure !== undefined, ...(c.walkFile ? { file: c.walkFile } : {}) } }),
    })),
    conformance,
  };
}

/** `--replay FILE`: decode (bounded read, io-ts), check the machine version, run the path step by step on `device`. */
async function replayCli(file: string, device: MbtDevice): Promise<MbtCliOutput> {
  const text = await readBounded(file, { maxBytes: 1 << 20 });
  if (E.isLeft(text)) return usage(`--replay: ${text.left.message}`);
  const decoded = decodePathFile(text.right);
  if (E.isLeft(decoded)) return usage(`--replay ${quoteText(file, 80)}: ${decoded.left.message}`);
  const choices = harnessesFor(device);
  const found = pathOf(choices.map((c) => deriveModel(c.harness.machine)), decoded.right);
  if (E.isLeft(found)) return usage(`--replay ${quoteText(file, 80)}: ${found.left.message}`);
  const { model, path } = found.right;
  const harness = choices.find((c) => c.harness.machine.id === model.id)!.harness;
  const r = await runPath(model, harness, path);
  const failedAt = r.failure?.step ?? (r.skipped !== undefined ? -2 : path.steps.length);
  const lines = [`replay ${model.id} on ${device}: ${path.steps.length} steps (written on ${decoded.right.device}${decoded.right.seed === null ? '' : `, seed ${decoded.right.seed}`})\n`];
  path.steps.forEach((s, i) => {
    const mark = i < failedAt ? 'ok  ' : i === failedAt ? 'FAIL' : '    ';
    lines.push(`  ${mark} ${String(i).padStart(3)} ${s.edge.type} → ${JSON.stringify(s.value)}\n`);
  });
  if (r.failure) lines.push(`FAIL step ${r.failure.step}: ${r.failure.message}\n`);
  else if (r.skipped !== undefined) lines.push(`SKIPPED: ${r.skipped}\n`);
  else lines.push(`passed${decoded.right.failure ? ` (it failed when written, at step ${decoded.right.failure.step}: ${decoded.right.failure.message})` : ''}\n`);
  return { code: r.failure ? 1 : 0, stdout: lines.join(''), stderr: '', reports: [] };
}

export function registerMbt(program: Command): void {
  program
    .command('mbt')
    .description('run the model-based test paths of every machine and report coverage (exit 1 on any failure)')
    .option('--device <device>', `effects to run against: ${MBT_DEVICES.join(' | ')}; or a device to test, vdpa:/dev/vhost-vdpa-N (root) or sim:<profile>, compared step by step with --compare`, 'sim')
    .option('--compare <profile>', 'with --device vdpa:…: the simulator profile each step is compared with (sim:vdpa_sim_net, sim:full, sim:vdpa_sim_net+stale; default: the one matching the device\'s features)')
    .option('--json', 'print {"machines":[{id, states, transitions, paths, failures, impossible, differences, infeasible, transitionPairs, guards}], "conformance"} (impossible: what no run can take on that harness; a device run adds steps per machine and "device")')
    .option('--simple-limit <n>', `run simple paths only for machines with at most this many (default 500; ${COUNT_LIMITS['--simple-limit'].min}..${COUNT_LIMITS['--simple-limit'].max})`)
    .option('--walks <n>', 'also run N random walks per machine (fast-check, faults included, shrunk on failure; 1..100000)')
    .option('--seed <s>', 'seed of the random walks (a u32; default 0)')
    .option('--walk-dir <dir>', 'where a failing walk is written as a path file (default: the current directory)')
    .option('--replay <file>', 'replay a path file (a failing walk) step by step on --device sim|scripted, then exit')
    .option('--report <file.html>', 'write the conformance report: one self-contained HTML page')
    .action(async (opts: MbtCliOptions, cmd: Command) => {
      // Ctrl-C during a device run: the running path ends, the device is reset, then the run stops
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.once('SIGINT', onSigint);
      const out = await runMbtCli({ ...opts, progress: process.stderr.isTTY === true }, { signal: stop.signal });
      process.off('SIGINT', onSigint);
      // through the program's output (src/cli/program.ts runCli may capture it)
      const o = cmd.configureOutput();
      (o.writeOut ?? ((t: string) => process.stdout.write(t)))(out.stdout);
      (o.writeErr ?? ((t: string) => process.stderr.write(t)))(out.stderr);
      process.exitCode = out.code;
    });
}

// ---------------------------------------------------------------------------------------------------
// --report on a device run (`--device vdpa:… | sim:<profile>`): the conformance run's coverage and
// differences, and the conformance probes (src/mbt/coverage-conformance.ts) on the same device

async function deviceRunWithReport(opts: MbtCliOptions, run: Partial<DeviceMbtOptions>): Promise<MbtCliOutput> {
  if (opts.walks !== undefined || opts.seed !== undefined || opts.replay !== undefined)
    return usage('--walks, --seed and --replay run on --device sim|scripted (a device run runs the planned paths, compared step by step)');
  const out = await runConformanceCli(opts, run);
  if (opts.report === undefined || out.device === undefined) return out;
  const r = out.device;
  const spec = opts.device!;
  const conformance = await probeConformance(spec, () => {
    const d = run.open?.() ?? openDevice(spec);
    if (E.isLeft(d)) return E.left(d.left.message);
    const o = d.right.setOwner();
    if (E.isLeft(o)) {
      d.right.close();
      return E.left(o.left.message);
    }
    return E.right(d.right);
  });
  const machines = r.machines.flatMap((m) => {
    const machine = MACHINES.find((x) => x.id === m.id);
    if (machine === undefined) return [];
    const model = deriveModel(machine);
    const uncovered = new Set([...m.uncoveredTransitions, ...m.uncoveredStates]);
    const coverage: CoverageReport = {
      // pairs and guard outcomes are measured on the harness runs (--device sim|scripted), not on a compared device run
      transitionPairs: { covered: 0, total: 0, infeasible: 0, infeasiblePairs: [], uncovered: [], paths: 0 },
      guards: { covered: 0, total: 0, unseen: [], notModelled: [] },
      transitionsTaken: new Set(model.edges.map(edgeKey).filter((k) => !uncovered.has(k))),
      statesEntered: new Set(model.states.filter((s) => !uncovered.has(s))),
    };
    const shownStep = (x: unknown) => (x === undefined ? '—' : JSON.stringify(x));
    return [
      {
        machine,
        report: { id: m.id, states: m.states, transitions: m.transitions, paths: m.paths, failures: m.failures, failureDetails: m.failureDetails.map((f) => ({ path: f.path, step: f.step, message: `(${f.side}) ${f.message}` })), impossible: [] },
        coverage,
        differences: m.differences.map((d) => `${d.quirk === undefined ? '' : `known quirk ${d.quirk}: `}${d.path}, step ${d.step}: device ${shownStep(d.device)}; ${r.compare} ${shownStep(d.sim)}`),
      },
    ];
  });
  const page = await renderMbtReport({ device: `${spec} compared with ${r.compare}`, command: `shadowvq mbt --device ${spec} --report ${opts.report}`, conformance, machines });
  if (E.isLeft(page)) return { ...out, code: 1, stderr: `${out.stderr}shadowvq mbt: report: ${page.left}\n` };
  try {
    writeFileSync(opts.report, page.right);
  } catch (e) {
    return { ...out, code: 1, stderr: `${out.stderr}shadowvq mbt: cannot write ${quoteText(opts.report, 80)}: ${(e as Error).message}\n` };
  }
  return { ...out, stderr: `${out.stderr}report written to ${opts.report}\n` };
}
