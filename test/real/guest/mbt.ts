/**
 * The conformance run on the real device: the product's `shadowvq mbt --device vdpa:…` (src/mbt/device.ts,
 * each machine's room in src/mbt/sim/<machine>.ts) on the kernel's vdpa_sim_net, every step compared with
 * the simulator's `vdpa_sim_net` profile. These tests call the product code and assert what it reports:
 * no failure, no difference (src/mbt/compare.ts KNOWN_QUIRKS is empty for this device), the paths left out
 * only for the reasons named, every transition taken that any device can take, the device reset at the end.
 * The run is the CLI's (`shadowvq mbt --device vdpa:/dev/vhost-vdpa-0 --json`, through src/cli/program.ts),
 * once per boot; each machine's test asserts on its part of the JSON.
 */
import * as E from 'fp-ts/lib/Either.js';
import { deviceLifecycleMachine } from '../../../machines/device-lifecycle.js';
import { migrationMachine } from '../../../machines/migration.js';
import { runCli } from '../../../src/cli/program.js';
import { deviceError, type DeviceError, type VdpaDevice } from '../../../src/device/types.js';
import { runDeviceMbt, type DeviceMachineReport } from '../../../src/mbt/device.js';
import type { DeviceRoom } from '../../../src/mbt/compare.js';
import { deriveModel } from '../../../src/mbt/model.js';
import { edgeKey } from '../../../src/mbt/runner.js';
import { lifecycleRoom, NO_NEEDS_RESET_ON_DEMAND } from '../../../src/mbt/sim/lifecycle.js';
import { migrationSimImpossible, NACK_NEEDS_SIM } from '../../../src/mbt/sim/migration.js';
import { eq, ok, Suite } from '../framework.js';
import type { GuestContext } from './context.js';

export const mbt = new Suite<GuestContext>('mbt');

/** The device through the context's opener, as the product's `open` option takes it. */
const opener = (ctx: GuestContext) => (): E.Either<DeviceError, VdpaDevice> => {
  try {
    return E.right(ctx.openSync());
  } catch (e) {
    return E.left(deviceError('ioctl', 'open', e instanceof Error ? e.message : String(e)));
  }
};

/** One machine's room through the product (the library), compared with `compare`. */
async function runRoom(ctx: GuestContext, room: DeviceRoom, o: { compare?: string; secondChances?: boolean } = {}): Promise<DeviceMachineReport> {
  const r = await runDeviceMbt({ device: ctx.spec, open: opener(ctx), compare: o.compare ?? 'sim:vdpa_sim_net', rooms: [room], ...(o.secondChances === undefined ? {} : { secondChances: o.secondChances }) });
  if (E.isLeft(r)) throw new Error(`refused: ${r.left.message}`);
  eq(r.right.finalStatus, 0, 'the device is left reset');
  return r.right.machines[0]!;
}

/** One machine of `shadowvq mbt --device … --json`. */
interface JsonMachine {
  readonly id: string;
  readonly states: { readonly covered: number; readonly total: number };
  readonly transitions: { readonly covered: number; readonly total: number };
  readonly paths: number;
  readonly failures: number;
  /** The transitions not taken on the device. */
  readonly impossible: readonly string[];
  readonly steps: number;
  readonly failureDetails: readonly { readonly side: string; readonly path: string; readonly step: number; readonly message: string }[];
  readonly differences: readonly { readonly path: string; readonly step: number; readonly device?: unknown; readonly sim?: unknown }[];
  readonly infeasible: readonly { readonly path: string; readonly reason: string }[];
}

interface CliRun {
  readonly code: number;
  readonly stderr: string;
  readonly doc: { readonly machines: readonly JsonMachine[]; readonly device: { readonly compare: string; readonly compareChosen: string; readonly features: string; readonly finalStatus: number | string; readonly mac: { before?: string; after?: string } } };
}

let cliRun: Promise<CliRun> | undefined;
/**
 * `shadowvq mbt --device vdpa:/dev/vhost-vdpa-0 --json` through the program (src/cli/program.ts), once
 * per boot: the per-machine tests below assert on its report (the whole run takes ~10 min under TCG).
 */
function theCliRun(ctx: GuestContext): Promise<CliRun> {
  cliRun ??= (async () => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(['node', 'shadowvq', 'mbt', '--device', ctx.spec, '--json'], { out: (s) => void (stdout += s), err: (s) => void (stderr += s) });
    return { code, stderr, doc: JSON.parse(stdout) as CliRun['doc'] };
  })();
  return cliRun;
}

async function machineOf(ctx: GuestContext, id: string): Promise<JsonMachine> {
  const m = (await theCliRun(ctx)).doc.machines.find((x) => x.id === id);
  if (m === undefined) throw new Error(`no ${id} in the report`);
  return m;
}

const diffText = (m: JsonMachine | DeviceMachineReport): string =>
  m.differences.slice(0, 3).map((d) => `${d.path} step ${d.step}\n  device ${JSON.stringify(d.device)}\n  sim    ${JSON.stringify(d.sim)}`).join('\n');
const failText = (m: JsonMachine | DeviceMachineReport): string => m.failureDetails.slice(0, 5).map((f) => `${f.side}: ${f.path} step ${f.step}: ${f.message}`).join('\n');

/** No failure and no difference on either side. */
function agreed(m: JsonMachine): void {
  eq(m.failures, 0, `path failures:\n${failText(m)}`);
  eq(m.differences.length, 0, `device ≠ sim:\n${diffText(m)}`);
}

/** Long enough for the one CLI run the first of these tests waits for. */
const RUN_MS = 900_000;

mbt.test('the CLI: shadowvq mbt --device vdpa:/dev/vhost-vdpa-0 --json runs all five machines against the matching profile, exit 0, the device left reset with its MAC', async (ctx) => {
  const { code, stderr, doc } = await theCliRun(ctx);
  eq(code, 0, `exit status; stderr:\n${stderr.slice(0, 2000)}`);
  eq(doc.machines.map((m) => m.id).join(' '), 'device-lifecycle svq-switch svq-relayout cvq-command migration', 'machines');
  // the default profile is the one whose offer is vdpa_sim_net's
  eq(`${doc.device.compare} (${doc.device.compareChosen})`, 'sim:vdpa_sim_net (matches the offer)', 'compared with');
  eq(doc.device.features, '0x308830028', 'offered features');
  eq(doc.device.finalStatus, 0, 'device left reset');
  // the CVQ and migration paths set other MACs (vdpa_sim_net keeps MAC_ADDR_SET across resets): given back
  eq(doc.device.mac.after, doc.device.mac.before, 'the MAC the device had before the run');
  ctx.metric({ name: 'mbt CLI on the real device', value: doc.machines.reduce((n, m) => n + m.steps, 0), unit: 'steps', note: doc.machines.map((m) => `${m.id} ${m.paths} paths`).join(', ') });
}, { timeoutMs: RUN_MS });

mbt.test('device-lifecycle model paths: real vdpa_sim_net ≡ simulated vdpa_sim_net profile, step by step', async (ctx) => {
  const m = await machineOf(ctx, 'device-lifecycle');
  ctx.metric({ name: 'mbt device-lifecycle paths on the real device', value: m.paths, unit: 'paths', note: `${m.steps} steps compared with the sim, ${m.transitions.covered}/${m.transitions.total} transitions` });
  agreed(m);
  ok(m.paths > 5, `paths: ${m.paths}`);
  // infeasible: only the DEVICE_ERROR → … → failed.reporting paths no device here can take
  ok(m.infeasible.every((x) => x.reason === NO_NEEDS_RESET_ON_DEMAND), `infeasible: ${m.infeasible.slice(0, 3).map((x) => x.reason).join('; ')}`);
  eq(m.transitions.covered, m.transitions.total, `every transition taken on the real device (not: ${m.impossible.join(', ')})`);
}, { timeoutMs: RUN_MS });

mbt.test('the comparison is not vacuous: the simulated full profile differs from the real device', async (ctx) => {
  const model = deriveModel(deviceLifecycleMachine);
  // the paths that reach negotiation: the full profile offers MQ, CTRL_RX, CTRL_VLAN … that vdpa_sim_net lacks
  const through = lifecycleRoom.paths(model).filter((p) => p.steps.some((s) => s.edge.trigger === 'readFeatures' && s.edge.kind === 'done' && s.edge.guard !== null)).slice(0, 3);
  ok(through.length > 0, 'paths through negotiation');
  const m = await runRoom(ctx, { ...lifecycleRoom, paths: () => through }, { compare: 'sim:full', secondChances: false });
  eq(m.failures, 0, `path failures:\n${failText(m)}`);
  eq(m.paths, through.length, 'paths run');
  eq(new Set(m.differences.map((d) => d.path)).size, through.length, 'every path through negotiation differs (offered / negotiated features)');
});

mbt.test('cvq-command model paths on the real CVQ ≡ simulated vdpa_sim_net profile (MAC read back whenever no batch is in flight)', async (ctx) => {
  const m = await machineOf(ctx, 'cvq-command');
  ctx.metric({ name: 'mbt cvq-command paths on the real device', value: m.paths, unit: 'paths', note: `${m.steps} steps compared, ${m.transitions.covered}/${m.transitions.total} transitions, ${m.infeasible.length} infeasible on a real device` });
  agreed(m);
  ok(m.paths >= 8, `feasible paths ${m.paths}; infeasible:\n${m.infeasible.map((x) => `${x.path}: ${x.reason}`).join('\n')}`);
}, { timeoutMs: RUN_MS });

mbt.test('svq-switch model paths on the real data queues (guest traffic TX → RX in every mode) ≡ simulated vdpa_sim_net profile', async (ctx) => {
  const m = await machineOf(ctx, 'svq-switch');
  ctx.metric({ name: 'mbt svq-switch paths on the real device', value: m.paths, unit: 'paths', note: `${m.steps} steps compared, ${m.states.covered}/${m.states.total} states, ${m.transitions.covered}/${m.transitions.total} transitions, ${m.infeasible.length} infeasible` });
  agreed(m);
  // a rollback failing right after a failed SUSPEND (nothing to undo) is the one path no device can
  // take; every transition it would have covered is taken through another path
  ok(m.infeasible.every((p) => p.reason === 'a rollback with nothing to undo cannot fail on a real device'), `infeasible:\n${m.infeasible.map((x) => x.reason).join('\n')}`);
  eq(m.impossible.length, 0, `transitions not taken on the real device: ${m.impossible.join(', ')}`);
  eq(m.states.covered, m.states.total, 'every state reached on the real device');
}, { timeoutMs: RUN_MS });

mbt.test('svq-relayout model paths on the real data queues (shadow rings 64 ⇄ 32 entries, guest traffic TX → RX on each) ≡ simulated vdpa_sim_net profile', async (ctx) => {
  const m = await machineOf(ctx, 'svq-relayout');
  ctx.metric({ name: 'mbt svq-relayout paths on the real device', value: m.paths, unit: 'paths', note: `${m.steps} steps compared, ${m.states.covered}/${m.states.total} states, ${m.transitions.covered}/${m.transitions.total} transitions, ${m.infeasible.length} infeasible` });
  agreed(m);
  eq(m.states.covered, m.states.total, 'every state reached on the real device');
  // not taken: only the error edges of the two steps that touch no device (an SVQ stop / start)
  ok(m.impossible.every((e) => e.includes('error:drainShadow') || e.includes('error:startForwarding')), `transitions not taken on the real device: ${m.impossible.join(', ')}`);
}, { timeoutMs: RUN_MS });

mbt.test('migration model paths with the destination on the real device ≡ destination sim:vdpa_sim_net, step by step (the source is the simulator on both)', async (ctx) => {
  const model = deriveModel(migrationMachine);
  const m = await machineOf(ctx, 'migration');
  ctx.metric({
    name: 'mbt migration paths with the real destination',
    value: m.paths,
    unit: 'paths',
    note: `${m.steps} steps compared, ${m.states.covered}/${m.states.total} states, ${m.transitions.covered}/${m.transitions.total} transitions, ${m.infeasible.length} infeasible`,
  });
  agreed(m);
  // infeasible: the refused restore (simulator-only NACK), the round-limit combinations no device can
  // take (migrationMaxRounds), paths through an edge no device run can take (migrationSimImpossible,
  // left out on the simulator too) and steps the context rules out there (src/mbt Infeasible)
  ok(m.infeasible.some((x) => x.reason === NACK_NEEDS_SIM), 'the refused restore is infeasible with its reason');
  // left: the refused restore's edge, and what no run can take on the simulator either (each named)
  const nack = model.edges.filter((e) => e.trigger === 'cvqCommand' && e.kind === 'done' && e.guard === null).map(edgeKey);
  eq(nack.length, 1, 'one refused-restore edge');
  const impossible = model.edges.filter((e) => migrationSimImpossible(e) !== undefined).map(edgeKey);
  eq(m.impossible.join(', '), model.edges.map(edgeKey).filter((k) => nack.includes(k) || impossible.includes(k)).join(', '), 'transitions not taken on the real device');
  eq(m.states.covered, m.states.total, 'every state reached on the real device');
  ok(m.paths >= 20, `paths run on the real device: ${m.paths}`);
}, { timeoutMs: RUN_MS });
