/**
 * `shadowvq mbt [--device sim|scripted] [--json] [--simple-limit N]`: generate the model-based test
 * paths of the four machines and run them; print per machine states covered / total, transitions
 * covered / total, paths run and failures (a progress bar on a terminal's stderr), and every transition
 * no run can take on that harness with the reason. Exit status 1 on any failure, uncovered state or
 * uncovered transition not named impossible, 2 on a usage error.
 *
 * `shadowvq mbt --device vdpa:/dev/vhost-vdpa-N [--compare sim:PROFILE]` (or `--device sim:<profile>`):
 * the conformance run on a device (src/mbt/device.ts), every step compared with the simulator profile.
 * Exit 1 on a failure or a difference that is no known quirk, 2 when the device or the user is refused.
 */
import type { Command } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import * as E from 'fp-ts/lib/Either.js';
import { mbtJson, planMbt, reportComplete, runMachine, type MachineReport } from '../mbt/index.js';
import { deviceReportPasses, runDeviceMbt, type DeviceMbtOptions, type DeviceMbtReport } from '../mbt/device.js';
import { harnessesFor, MBT_DEVICES, type MbtDevice } from '../mbt/harnesses.js';
import { quoteText } from '../state/escape.js';
import { COUNT_LIMITS, parseCount } from './args.js';

export interface MbtCliOptions {
  readonly device?: string;
  readonly compare?: string;
  readonly json?: boolean;
  readonly simpleLimit?: string;
  readonly progress?: boolean;
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
  if (isConformanceRun(opts.device)) return runConformanceCli(opts, run);
  if (opts.compare !== undefined) return usage('--compare needs --device vdpa:/dev/vhost-vdpa-N (or sim:<profile>): it names what a device run is compared with');
  const device = (opts.device ?? 'sim') as MbtDevice;
  if (!MBT_DEVICES.includes(device)) return usage(`--device: expected one of ${MBT_DEVICES.join(', ')}, got ${quoteText(String(opts.device), 40)}`);
  let simpleLimit: number | undefined;
  if (opts.simpleLimit !== undefined) {
    try {
      simpleLimit = parseCount('--simple-limit', opts.simpleLimit);
    } catch (e) {
      return usage((e as Error).message);
    }
  }
  const choices = harnessesFor(device);
  const plans = planMbt(
    choices.map((c) => c.harness),
    simpleLimit === undefined ? {} : { simpleLimit },
  );
  const bars = opts.progress === false ? undefined : new MultiBar({ format: ' {machine} [{bar}] {value}/{total} paths', stream: process.stderr, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
  const reports: MachineReport[] = [];
  for (const plan of plans) {
    const bar = bars?.create(plan.paths.length, 0, { machine: plan.model.id.padEnd(16) });
    reports.push(await runMachine(plan, { onPath: (_, done) => bar?.update(done) }));
  }
  bars?.stop();
  const bad = reports.some((r) => !reportComplete(r));
  const text = formatMbtText(reports, choices.map((c) => c.effects));
  return {
    code: bad ? 1 : 0,
    stdout: opts.json === true ? `${JSON.stringify(mbtJson(reports))}\n` : text,
    stderr: opts.json === true && bad ? text : '',
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

export function registerMbt(program: Command): void {
  program
    .command('mbt')
    .description('run the model-based test paths of the four machines and report coverage (exit 1 on any failure)')
    .option('--device <device>', `effects to run against: ${MBT_DEVICES.join(' | ')}; or a device to test, vdpa:/dev/vhost-vdpa-N (root) or sim:<profile>, compared step by step with --compare`, 'sim')
    .option('--compare <profile>', 'with --device vdpa:…: the simulator profile each step is compared with (sim:vdpa_sim_net, sim:full, sim:vdpa_sim_net+stale; default: the one matching the device\'s features)')
    .option('--json', 'print {"machines":[{id, states, transitions, paths, failures, impossible, differences, infeasible}]} (impossible: what no run can take on that harness; a device run adds steps per machine and "device")')
    .option('--simple-limit <n>', `run simple paths only for machines with at most this many (default 500; ${COUNT_LIMITS['--simple-limit'].min}..${COUNT_LIMITS['--simple-limit'].max})`)
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
