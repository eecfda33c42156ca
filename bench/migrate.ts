/**
 * The whole migration (src/migrate) on two simulators, as `shadowvq migrate` runs it:
 *  - downtime by CVQ strategy, for the demo state (309 commands) and the maximal one (≈4100 commands:
 *    4094 VLANs, 64 MAC table entries, 8 pairs, RSS) — stop-and-copy on a 10 Gb/s link plus the
 *    destination's restore at the simulator's 50 µs kick-to-call; serial is the baseline;
 *  - precopy convergence against the guest's frame rate (rounds, pages sent, dirty pages left);
 *  - the demo migration's wall time and the guest frames checked per wall second.
 * Every run must complete with the destination's state equal to the source's and no frame lost, or the
 * row says so instead of a number.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { BenchRow, BenchSuite } from './harness.js';
import { maximalState } from '../src/state/maximal.js';
import { decodeStateJson } from '../src/state/json.js';
import type { NetDeviceState } from '../src/state/net-state.js';
import { demoStateJson } from '../src/migrate/demo-state.js';
import { runMigration, type MigrationSummary, type RunOptions } from '../src/migrate/controller.js';
import { FULL_PROFILE_FEATURES } from '../src/virtio/features.js';
import type { CvqStrategy } from '../machines/cvq-command.js';

const demo = (): NetDeviceState => {
  const s = decodeStateJson(demoStateJson());
  if (E.isLeft(s)) throw new Error(s.left.message);
  return s.right;
};

/** The maximal state with receive modes that let the guest's own unicast traffic through. */
const maximal = (): NetDeviceState => maximalState({ alluni: true, nobcast: false });

async function once(state: NetDeviceState, over: Partial<RunOptions>): Promise<MigrationSummary> {
  const r = await runMigration({ source: 'sim', destination: 'sim', state, features: FULL_PROFILE_FEATURES, strategy: 'parallel', ramBytes: 16 << 20, framesBefore: 1000, framesAfter: 1000, ...over });
  if (E.isLeft(r)) throw new Error(`${r.left.where}: ${r.left.message}`);
  const s = r.right;
  if (s.outcome !== 'completed' || s.verdict.stateEqual !== true || s.traffic.lost !== 0) throw new Error(`migration ${s.outcome}: ${s.error ?? 'state differs or frames lost'}`);
  return s;
}

const STRATEGIES: readonly CvqStrategy[] = ['serial', 'parallel', 'parallel-indirect'];

export const suite: BenchSuite = {
  name: 'migrate',
  async run({ quick }) {
    const rows: BenchRow[] = [];
    for (const [label, state] of [
      ['demo', demo()],
      ['maximal', maximal()],
    ] as const) {
      let serial: MigrationSummary | undefined;
      for (const strategy of STRATEGIES) {
        const s = await once(state, { strategy });
        serial ??= s;
        const d = s.downtime!.simUs / 1000;
        rows.push({
          name: `${label} downtime, ${strategy}`,
          value: d,
          unit: 'sim ms',
          ...(strategy === 'serial' ? {} : { ratio: d / (serial.downtime!.simUs / 1000), baseline: `${label} downtime, serial` }),
          note: `${s.cvq!.commands} CVQ cmds in ${s.cvq!.roundTrips} round trips (${(s.cvq!.simUs / 1000).toFixed(2)} ms) + stop-and-copy ${(s.phases.find((p) => p.phase === 'stopAndCopy')!.simUs! / 1000).toFixed(2)} ms`,
        });
      }
    }
    const rates = quick ? [0.12, 0.4] : [0.06, 0.12, 0.24, 0.4];
    for (const rate of rates) {
      const s = await once(demo(), { rate });
      const r = s.precopy.rounds;
      const last = r[r.length - 1]!;
      rows.push({
        name: `precopy at ${Math.round(rate * 1e6).toLocaleString('en-US')} frames/s`,
        value: r.length,
        unit: 'rounds',
        note: `${r.reduce((a, x) => a + x.pagesSent, 0)} pages sent, ${last.dirtyPages} dirty left (${last.dirtyPages <= s.precopy.thresholdPages ? 'converged' : 'round limit'}), ${(r.reduce((a, x) => a + x.wireUs, 0) / 1000).toFixed(1)} sim ms`,
      });
    }
    const t0 = performance.now();
    const s = await once(demo(), { ramBytes: 64 << 20, framesBefore: 4000, framesAfter: 4000 });
    const wall = performance.now() - t0;
    rows.push({ name: 'demo migration (npm start), wall', value: wall, unit: 'ms', note: `64 MiB, 4 pairs, ${s.traffic.sent} frames byte-checked, ${s.transitions} transitions` });
    rows.push({ name: 'guest frames through SVQ and back, checked', value: s.traffic.received / (wall / 1000), unit: 'frames/s', note: 'whole run: bring-up, precopy, restore, after' });
    return rows;
  },
};
