/**
 * `shadowvq plan --state FILE [--features LIST] [--json]`: print the CVQ restore plan of a device
 * state (one line per command: class, command, name, payload hex; or JSON). Every input error — an
 * unreadable or invalid state file, an unknown feature name, an inconsistent feature set — is a
 * message on stderr and exit status 2.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { parseStateJson } from '../state/json.js';
import type { NetDeviceState } from '../state/net-state.js';
import { planRestore, type RestoreCommand } from '../state/plan.js';
import { viewThrough } from '../state/view.js';
import { checkFeatureDependencies, formatFeatures, FULL_PROFILE_FEATURES, parseFeatureList } from '../virtio/features.js';
import { toHex } from '../virtio/net.js';

export interface PlanOptions {
  readonly state: string;
  readonly features?: string;
  readonly json?: boolean;
}

export interface PlanOutput {
  readonly code: 0 | 2;
  readonly stdout: string;
  readonly stderr: string;
}

const fail = (message: string): PlanOutput => ({ code: 2, stdout: '', stderr: `shadowvq plan: ${message}\n` });

/** Top-level fields of the state a restore with these features cannot reproduce. */
function unrestorable(state: NetDeviceState, negotiated: bigint): string[] {
  const view = viewThrough(state, negotiated);
  return (Object.keys(state) as (keyof NetDeviceState)[]).filter((k) => JSON.stringify(state[k], big) !== JSON.stringify(view[k], big));
}
const big = (_: string, v: unknown): unknown => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);

export function formatPlanText(plan: readonly RestoreCommand[]): string {
  const w = Math.max(0, ...plan.map((c) => c.name.length));
  return plan.map((c) => `${c.class} ${c.command} ${c.name.padEnd(w)} ${toHex(c.payload)}`.trimEnd() + '\n').join('');
}

export function formatPlanJson(plan: readonly RestoreCommand[]): string {
  const rows = plan.map((c) => JSON.stringify({ class: c.class, command: c.command, name: c.name, payload: toHex(c.payload) }));
  return rows.length === 0 ? '[]\n' : `[\n  ${rows.join(',\n  ')}\n]\n`;
}

/** The whole command as a function of its options (the CLI wrapper only prints and exits). */
export function runPlan(opts: PlanOptions, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): PlanOutput {
  let negotiated = FULL_PROFILE_FEATURES;
  if (opts.features !== undefined) {
    const f = parseFeatureList(opts.features);
    if (E.isLeft(f)) return fail(`--features: ${f.left.message}`);
    negotiated = f.right;
  }
  const deps = checkFeatureDependencies(negotiated);
  if (E.isLeft(deps)) return fail(`inconsistent feature set ${formatFeatures(negotiated)}: ${deps.left.message}`);

  let text: string;
  try {
    text = readFile(opts.state);
  } catch (e) {
    return fail(`cannot read state file ${opts.state}: ${(e as Error).message}`);
  }
  const state = parseStateJson(text);
  if (E.isLeft(state)) {
    return fail(`invalid state file ${opts.state}:\n${state.left.issues.map((i) => `  ${i.path === '' ? '(document)' : i.path}: ${i.message}`).join('\n')}`);
  }
  const plan = planRestore(state.right, negotiated);
  const lost = unrestorable(state.right, negotiated);
  return {
    code: 0,
    stdout: opts.json === true ? formatPlanJson(plan) : formatPlanText(plan),
    stderr: lost.length === 0 ? '' : `shadowvq plan: note: with features 0x${negotiated.toString(16)} the restore does not reproduce: ${lost.join(', ')}\n`,
  };
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('print the CVQ commands that restore a virtio-net device state (QEMU vhost_vdpa_net_cvq_load order)')
    .requiredOption('--state <file>', 'device state JSON')
    .option('--features <list>', 'negotiated features: comma-separated names without VIRTIO_NET_F_/VIRTIO_F_ (e.g. CTRL_VQ,CTRL_RX,MQ,RSS) or a hex mask; default: the full profile')
    .option('--json', 'print a JSON array of {class, command, name, payload}')
    .action((opts: PlanOptions) => {
      const out = runPlan(opts);
      process.stdout.write(out.stdout);
      process.stderr.write(out.stderr);
      process.exitCode = out.code;
    });
}
