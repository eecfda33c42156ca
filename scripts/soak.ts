/**
 * `npm run soak [-- --chains N] [--seed S] [--guest split|packed] [--shadow split|packed] [--size N]
 * [--switch-every N] [--json]`: forward N chains (default 10 million) of random shapes (1–3 out and 0–3 in
 * segments, direct or indirect) from a guest ring through SVQ to a loopback device and back, switching
 * SVQ off (the device then works on the guest ring from SVQ's hand-over) and on again every
 * `--switch-every` chains, and once, half-way, handing the queue over through a serialized record (the
 * queue-level part of a migration) while a full live migration (src/migrate: two simulated devices,
 * precopy with guest traffic, CVQ restore, switch-over) runs and must complete with nothing lost.
 * Every chain carries a token and a serial byte: none may be lost, returned twice, or come back with
 * the wrong length or bytes. Reports chains/s and the heap at start and end (after GC when
 * `--expose-gc`). Exit status 1 on any accounting violation, 2 on bad arguments.
 */
import { Command, InvalidArgumentError } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { SvqRig, type ChainSpec } from '../testkit/fuzz/svq-rig.js';
import { isSvqError } from '../src/svq/shadow-virtqueue.js';
import type { RingLayout } from '../src/ring/types.js';
import * as E from 'fp-ts/lib/Either.js';
import { SimVdpaDevice } from '../src/device/sim/device.js';
import { runMigration } from '../src/migrate/controller.js';
import { demoStateJson } from '../src/migrate/demo-state.js';
import { decodeStateJson } from '../src/state/json.js';
import { FULL_PROFILE_FEATURES } from '../src/virtio/features.js';

const int = (what: string, min: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be an integer ≥ ${min}`);
  return n;
};
const layout = (v: string): RingLayout => {
  if (v !== 'split' && v !== 'packed') throw new InvalidArgumentError('expected split or packed');
  return v;
};

const program = new Command('soak')
  .description('forward millions of random chains through SVQ with switches and a hand-over; account for every one')
  .option('--chains <n>', 'chains to forward', int('--chains', 1), 10_000_000)
  .option('--seed <s>', 'shape generator seed', int('--seed', 0), 1)
  .option('--guest <layout>', 'guest ring layout', layout, 'split' as RingLayout)
  .option('--shadow <layout>', 'shadow ring layout', layout, 'packed' as RingLayout)
  .option('--size <n>', 'queue size (guest and shadow)', int('--size', 8), 256)
  .option('--switch-every <n>', 'switch SVQ off/on every n chains (0: never)', int('--switch-every', 0), 1_000_000)
  .option('--json', 'print the result as JSON')
  .exitOverride();

let o: { chains: number; seed: number; guest: RingLayout; shadow: RingLayout; size: number; switchEvery: number; json?: boolean };
try {
  program.parse(process.argv);
  o = program.opts();
} catch (e) {
  process.exit((e as { exitCode?: number }).exitCode === 0 ? 0 : 2);
}
if ((o.size & (o.size - 1)) !== 0 && (o.guest === 'split' || o.shadow === 'split')) {
  process.stderr.write('soak: --size must be a power of two for a split ring\n');
  process.exit(2);
}

const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed;
};

const rig = SvqRig.create({
  guest: { layout: o.guest, size: o.size, eventIdx: true, indirect: true },
  shadow: { layout: o.shadow, size: o.size, eventIdx: true, indirect: true },
  guestMem: 1 << 21,
});
if (isSvqError(rig)) {
  process.stderr.write(`soak: ${rig.message}\n`);
  process.exit(2);
}

// 1024 chain shapes made once; the hot loop picks them with an LCG (no allocation per chain)
let s = o.seed >>> 0 || 1;
const rand = (n: number): number => {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return s % n;
};
const shapes: ChainSpec[] = Array.from({ length: 1024 }, () => ({
  out: Array.from({ length: 1 + rand(3) }, () => 1 + rand(300)),
  in: Array.from({ length: rand(4) }, () => 1 + rand(300)),
  indirect: rand(4) === 0,
}));

/** A full live migration of the demo guest between two simulated devices; its own frame ledger. */
async function migrateOnce(): Promise<{ outcome: string; frames: number; lost: number; downtimeUs: number | null; problem: string | null }> {
  const state = decodeStateJson(demoStateJson());
  if (E.isLeft(state)) return { outcome: 'not run', frames: 0, lost: 0, downtimeUs: null, problem: state.left.message };
  const r = await runMigration({
    source: new SimVdpaDevice({ name: 'src' }),
    destination: new SimVdpaDevice({ name: 'dst' }),
    state: state.right,
    features: FULL_PROFILE_FEATURES,
    strategy: 'parallel',
    ramBytes: 16 << 20,
    framesBefore: 5000,
    framesAfter: 5000,
  });
  if (E.isLeft(r)) return { outcome: 'error', frames: 0, lost: 0, downtimeUs: null, problem: `${r.left.where}: ${r.left.message}` };
  const m = r.right;
  const ok = m.outcome === 'completed' && m.verdict.stateEqual === true && m.verdict.ramEqual === true && m.traffic.lost === 0 && m.traffic.received === m.traffic.sent;
  return {
    outcome: m.outcome,
    frames: m.traffic.sent,
    lost: m.traffic.lost,
    downtimeUs: m.downtime?.simUs ?? null,
    problem: ok ? null : `${m.outcome}: ${m.error ?? `state equal ${m.verdict.stateEqual}, RAM equal ${m.verdict.ramEqual}, ${m.traffic.lost} lost, ${m.traffic.received}/${m.traffic.sent} received`}`,
  };
}
let migration: Awaited<ReturnType<typeof migrateOnce>> | undefined;
/** Wall time of the migration, kept out of the chains/s rate. */
let migrationMs = 0;

const heapStart = heap();
const bar = new SingleBar({ format: ' soak [{bar}] {percentage}% | {value}/{total} chains | {rate} chains/s | mode {mode}', stream: process.stderr, hideCursor: true, noTTYOutput: false }, Presets.shades_classic);
const showBar = process.stderr.isTTY === true && o.json !== true;
if (showBar) bar.start(o.chains, 0, { rate: 0, mode: rig.mode });

const t0 = performance.now();
let nextSwitch = o.switchEvery > 0 ? o.switchEvery : Infinity;
let handedOver = false;
let problem: string | undefined;
let nextBar = 0;
let heapMid = 0;
let heapWarm = 0;
let heapAfterMigration = 0;
while (rig.returned < o.chains && problem === undefined) {
  // the guest fills what it can (up to the chains still to send), kicks, the device runs, the guest reaps
  const want = o.chains - rig.added;
  for (let i = 0; i < want; i++) if (!rig.add(shapes[rand(1024)]!)) break;
  rig.kick();
  const e = rig.runDevice(1 << 16);
  if (e !== undefined) problem = `device ring error: ${e.message}`;
  const r = rig.reap();
  if (typeof r !== 'number') problem = `guest ring error: ${r.message}`;
  if (rig.svq !== undefined && rig.svq.state !== 'running') problem = `SVQ failed: ${rig.svq.failure?.message}`;
  if (rig.violation !== undefined) problem = rig.violation;
  if (rig.added >= nextSwitch) {
    nextSwitch += o.switchEvery;
    const err = rig.mode === 'shadow' ? rig.switchOff() : rig.switchOn();
    if (err !== undefined) problem = `switch: ${err}`;
  }
  if (heapWarm === 0 && rig.added >= o.chains / 10) heapWarm = heap();
  if (!handedOver && rig.added >= o.chains / 2 && rig.mode === 'shadow') {
    handedOver = true;
    heapMid = heap();
    const err = rig.handOverThroughRecord();
    if (err !== undefined) problem = `hand-over: ${err}`;
    const m0 = performance.now();
    migration = await migrateOnce();
    migrationMs = performance.now() - m0;
    heapAfterMigration = heap();
    if (migration.problem !== null) problem = `migration: ${migration.problem}`;
  }
  if (showBar && rig.returned >= nextBar) {
    nextBar = rig.returned + 50_000;
    bar.update(rig.returned, { rate: Math.round(rig.returned / ((performance.now() - t0 - migrationMs) / 1000)), mode: rig.mode });
  }
}
// the tail: whatever is still in flight comes back
if (problem === undefined) {
  if (rig.mode === 'passthrough') {
    const e = rig.switchOn();
    if (e !== undefined) problem = `switch: ${e}`;
  }
  rig.drain();
}
const seconds = (performance.now() - t0 - migrationMs) / 1000;
if (showBar) {
  bar.update(rig.returned, { rate: Math.round(rig.returned / seconds), mode: rig.mode });
  bar.stop();
}
const heapEnd = heap();
const result = {
  chains: o.chains,
  guest: `${o.guest}/${o.size}`,
  shadow: `${o.shadow}/${o.size}`,
  added: rig.added,
  returned: rig.returned,
  inFlight: rig.inFlight(),
  lost: rig.lost(),
  duplicates: rig.duplicates,
  contentErrors: rig.contentErrors,
  switches: rig.switches,
  handovers: rig.handovers,
  migration: migration ?? null,
  seconds: Number(seconds.toFixed(2)),
  chainsPerSecond: Math.round(rig.returned / seconds),
  heapStartMiB: Number((heapStart / 2 ** 20).toFixed(1)),
  heapWarmMiB: Number((heapWarm / 2 ** 20).toFixed(1)),
  heapMidMiB: Number((heapMid / 2 ** 20).toFixed(1)),
  heapAfterMigrationMiB: Number((heapAfterMigration / 2 ** 20).toFixed(1)),
  heapEndMiB: Number((heapEnd / 2 ** 20).toFixed(1)),
  gc: gc !== undefined,
  problem: problem ?? (rig.returned !== rig.added || rig.inFlight() !== 0 ? `${rig.inFlight()} chain(s) never came back` : null),
};
if (o.json === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else {
  const rows: [string, string][] = [
    ['rings', `guest ${result.guest} → shadow ${result.shadow} (EVENT_IDX, INDIRECT)`],
    ['chains', `${result.returned} of ${result.added} returned, ${result.inFlight} in flight, ${result.lost} lost, ${result.duplicates} duplicated, ${result.contentErrors} with wrong length/bytes`],
    ['switches', `${result.switches} SVQ off/on, ${result.handovers} hand-over through a record`],
    ['migrate', result.migration === null ? 'not run' : `live migration half-way: ${result.migration.outcome}, ${result.migration.frames} guest frames, ${result.migration.lost} lost, downtime ${result.migration.downtimeUs ?? '–'} µs (simulated)`],
    ['rate', `${result.chainsPerSecond.toLocaleString('en')} chains/s over ${result.seconds} s (the migration's ${(migrationMs / 1000).toFixed(1)} s excluded)`],
    ['heap', `${result.heapStartMiB} MiB at start, ${result.heapWarmMiB} after 10%, ${result.heapMidMiB} half-way, ${result.heapAfterMigrationMiB} after the migration, ${result.heapEndMiB} at end${result.gc ? ' (after GC)' : ' (no --expose-gc: not collected first)'}`],
    ['verdict', result.problem ?? 'ok: every chain came back exactly once, byte-checked'],
  ];
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(9)} ${v}`).join('\n') + '\n');
}
process.exitCode = result.problem === null ? 0 : 1;
