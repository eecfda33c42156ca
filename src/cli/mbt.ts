/**
 * `shadowvq mbt [--device sim|scripted] [--json] [--simple-limit N]`: generate the model-based test
 * paths of the four machines and run them; print per machine states covered / total, transitions
 * covered / total, paths run and failures (a progress bar on a terminal's stderr), and every transition
 * no run can take on that harness with the reason. Exit status 1 on any failure, uncovered state or
 * uncovered transition not named impossible, 2 on a usage error.
 */
import type { Command } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import { mbtJson, planMbt, reportComplete, runMachine, type MachineReport } from '../mbt/index.js';
import { harnessesFor, MBT_DEVICES, type MbtDevice } from '../mbt/harnesses.js';
import { quoteText } from '../state/escape.js';
import { COUNT_LIMITS, parseCount } from './args.js';

export interface MbtCliOptions {
  readonly device?: string;
  readonly json?: boolean;
  readonly simpleLimit?: string;
  readonly progress?: boolean;
}

export interface MbtCliOutput {
  readonly code: 0 | 1 | 2;
  readonly stdout: string;
  readonly stderr: string;
  readonly reports: readonly MachineReport[];
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

export async function runMbtCli(opts: MbtCliOptions): Promise<MbtCliOutput> {
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

export function registerMbt(program: Command): void {
  program
    .command('mbt')
    .description('run the model-based test paths of the four machines and report coverage (exit 1 on any failure)')
    .option('--device <device>', `effects to run against: ${MBT_DEVICES.join(' | ')}`, 'sim')
    .option('--json', 'print {"machines":[{id, states, transitions, paths, failures, impossible}]} (impossible: what no run can take on that harness)')
    .option('--simple-limit <n>', `run simple paths only for machines with at most this many (default 500; ${COUNT_LIMITS['--simple-limit'].min}..${COUNT_LIMITS['--simple-limit'].max})`)
    .action(async (opts: MbtCliOptions) => {
      const out = await runMbtCli({ ...opts, progress: process.stderr.isTTY === true });
      process.stdout.write(out.stdout);
      process.stderr.write(out.stderr);
      process.exitCode = out.code;
    });
}
