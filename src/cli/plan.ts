/**
 * `shadowvq plan --state FILE [--features LIST] [--json]`: print the CVQ restore plan of a device
 * state (one line per command: class, command, name, payload hex; or JSON). Every input error — an
 * unreadable or invalid state file, an unknown feature name, an inconsistent feature set — is a
 * message on stderr and exit status 2.
 */
import { Option, type Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { parseSimSpec } from '../device/index.js';
import { PROFILES } from '../device/sim/profiles.js';
import { droppedFields } from '../state/dropped.js';
import { escapeText } from '../state/escape.js';
import { formatIssues, parseStateJson } from '../state/json.js';
import { DEFAULT_LIMITS, type DeviceLimits } from '../state/net-state.js';
import { planRestore, type RestoreCommand } from '../state/plan.js';
import { readBounded } from '../state/read-bounded.js';
import { sanitizeLines } from './args.js';
import { checkLimits } from '../state/validate.js';
import { viewThrough } from '../state/view.js';
import { checkFeatureDependencies, formatFeatures, FULL_PROFILE_FEATURES, parseFeatureList } from '../virtio/features.js';
import { toHex } from '../virtio/net.js';

export interface PlanOptions {
  readonly state: string;
  readonly features?: string;
  readonly json?: boolean;
  /** The device whose limits the state must fit: sim or sim:<profile> (default sim, the full profile). */
  readonly device?: string;
}

export interface PlanOutput {
  readonly code: 0 | 2;
  readonly stdout: string;
  readonly stderr: string;
}

const fail = (message: string): PlanOutput => ({ code: 2, stdout: '', stderr: `shadowvq plan: ${sanitizeLines(message)}\n` });
/** With --json a refusal is also one JSON object on stdout. */
const withJson = (opts: PlanOptions, out: PlanOutput): PlanOutput =>
  out.code !== 0 && opts.json === true ? { ...out, stdout: JSON.stringify({ outcome: 'refused', error: out.stderr.replace(/^shadowvq plan: /, '').trim(), exitCode: out.code }) + '\n' } : out;

/** The limits of a simulated device profile (its config space's RSS maxima and queue pairs). */
export function simLimits(spec: string): E.Either<string, DeviceLimits> {
  const p = parseSimSpec(spec.trim());
  if (E.isLeft(p)) return E.left(p.left.message);
  const prof = typeof p.right.profile === 'object' ? p.right.profile : PROFILES[p.right.profile ?? 'full'];
  return E.right({ ...DEFAULT_LIMITS, maxQueuePairs: prof.maxQueuePairs, rssMaxKeySize: prof.rssMaxKeySize, rssMaxIndirectionTableLength: prof.rssMaxIndirectionTableLength });
}

export function formatPlanText(plan: readonly RestoreCommand[]): string {
  const w = Math.max(0, ...plan.map((c) => c.name.length));
  return plan.map((c) => `${c.class} ${c.command} ${c.name.padEnd(w)} ${toHex(c.payload)}`.trimEnd() + '\n').join('');
}

export function formatPlanJson(plan: readonly RestoreCommand[]): string {
  const rows = plan.map((c) => JSON.stringify({ class: c.class, command: c.command, name: c.name, payload: toHex(c.payload) }));
  return rows.length === 0 ? '[]\n' : `[\n  ${rows.join(',\n  ')}\n]\n`;
}

/** The whole command as a function of its options (the CLI wrapper only prints and exits). */
export async function runPlan(opts: PlanOptions, readFile?: (path: string) => string | Promise<string>): Promise<PlanOutput> {
  let negotiated = FULL_PROFILE_FEATURES;
  if (opts.features !== undefined) {
    const f = parseFeatureList(opts.features);
    if (E.isLeft(f)) return fail(`--features: ${f.left.message}`);
    negotiated = f.right;
  }
  const deps = checkFeatureDependencies(negotiated);
  if (E.isLeft(deps)) return fail(`inconsistent feature set ${formatFeatures(negotiated)}: ${deps.left.message}`);
  const limits = simLimits(opts.device ?? 'sim');
  if (E.isLeft(limits)) return fail(`--device: ${limits.left}`);

  let text: string;
  if (readFile !== undefined) {
    try {
      text = await readFile(opts.state);
    } catch (e) {
      return fail(`cannot read state file ${escapeText(opts.state)}: ${escapeText((e as Error).message)}`);
    }
  } else {
    const r = await readBounded(opts.state);
    if (E.isLeft(r)) return fail(`cannot read state file ${r.left.message}`);
    text = r.right;
  }
  const state = parseStateJson(text);
  if (E.isLeft(state)) return fail(`invalid state file ${escapeText(opts.state)}:\n${formatIssues(state.left)}`);
  // the device's limits before anything is planned: what the restore would send must fit
  const fits = checkLimits(viewThrough(state.right, negotiated), limits.right);
  if (E.isLeft(fits)) return fail(`the state does not fit the device ${escapeText(opts.device ?? 'sim')}:\n${fits.left.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  const plan = planRestore(state.right, negotiated);
  const lost = droppedFields(state.right, negotiated);
  return {
    code: 0,
    stdout: opts.json === true ? formatPlanJson(plan) : formatPlanText(plan),
    stderr: lost.length === 0 ? '' : `shadowvq plan: note: with features ${formatFeatures(negotiated)} the restore does not reproduce the state's ${lost.join(', ')} (they stay at their reset values)\n`,
  };
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('print the CVQ commands that restore a virtio-net device state (QEMU vhost_vdpa_net_cvq_load order)')
    .requiredOption('--state <file>', 'device state JSON')
    .option('--features <list>', 'negotiated features: comma-separated names without VIRTIO_NET_F_/VIRTIO_F_ (e.g. CTRL_VQ,CTRL_RX,MQ,RSS) or a hex mask; default: the full profile')
    .option('--json', 'print a JSON array of {class, command, name, payload}')
    .addOption(new Option('--device <sim[:profile]>', 'the device whose limits (RSS key and table sizes, queue pairs, MAC table) the state must fit').default('sim'))
    .action(async (opts: PlanOptions) => {
      const out = withJson(opts, await runPlan(opts));
      process.stdout.write(out.stdout);
      process.stderr.write(out.stderr);
      process.exitCode = out.code;
    });
}
