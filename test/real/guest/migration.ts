/**
 * A whole live migration (src/migrate: machines/migration on both ends, precopy with SVQ, stop-and-copy,
 * CVQ restore, data queues enabled, verification) from the simulated vdpa_sim_net profile onto the real
 * vdpa_sim_net as the destination; the burst in flight at SUSPEND must be transmitted by the real device.
 */
import { execFileSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { runMigration } from '../../../src/migrate/controller.js';
import { resetNetState } from '../../../src/state/net-state.js';
import { FULL_PROFILE_FEATURES, maskOf } from '../../../src/virtio/features.js';
import { formatMac } from '../../../src/virtio/net.js';
import { describe, eq, ok, right, Suite } from '../framework.js';
import { bringUp } from './bringup.js';
import type { GuestContext } from './context.js';

export const migration = new Suite<GuestContext>('migration');

/** vdpa_sim_net's tx packet counter (`vdpa dev vstats show vdpa0 qidx 1`). */
function txPackets(): number {
  const out = execFileSync('vdpa', ['dev', 'vstats', 'show', 'vdpa0', 'qidx', '1'], { encoding: 'utf8' });
  const m = /tx packets (\d+)/.exec(out);
  if (m === null) throw new Error(`no "tx packets" in vstats: ${out}`);
  return Number(m[1]);
}

/** The counter once it has moved by `n` (it is updated after the chains complete), or after `waitMs`. */
async function txPacketsAfter(before: number, n: number, waitMs = 2000): Promise<number> {
  let v = txPackets();
  for (let t = 0; t < waitMs / 10 && v - before < n; t++) {
    await new Promise((r) => setTimeout(r, 10));
    v = txPackets();
  }
  return v;
}

// one strategy: the CVQ strategies are covered by the cvq suite; a migration under TCG takes a minute
for (const strategy of ['parallel'] as const) {
  migration.test(`sim:vdpa_sim_net → real vdpa_sim_net (${strategy}): completed, state and RAM equal, the in-flight burst transmitted by the destination once, MAC in config space`, async (ctx) => {
    const mac = '02:aa:bb:cc:dd:92';
    // vstats need FEATURES_OK: read the (cumulative) counter on a negotiated device first
    const txBefore = await ctx.withDevice(async (d) => {
      const up = await bringUp(d, maskOf(['VERSION_1', 'ACCESS_PLATFORM']), 0n);
      up.actor.stop();
      return txPackets();
    });
    const dev = ctx.openSync();
    try {
      const r = await runMigration({
        source: 'sim:vdpa_sim_net',
        destination: dev,
        state: resetNetState(mac),
        features: FULL_PROFILE_FEATURES,
        strategy,
        ramBytes: 8 << 20,
        framesBefore: 200,
        framesAfter: 200,
      });
      if (E.isLeft(r)) throw new Error(`runMigration: ${describe(r.left)}`);
      const s = r.right;
      ok(s.outcome === 'completed', `outcome ${s.outcome}: ${s.error}`);
      ok(s.verdict.stateEqual === true, `state differs: ${s.verdict.differences.join('; ')}`);
      eq(s.verdict.ramEqual, true, 'guest RAM equal at switch-over');
      eq(s.traffic.errors.length, 0, `traffic errors: ${s.traffic.errors.join('; ')}`);
      // The in-process guest cannot move its vCPU onto the destination's copy of RAM, so src/migrate runs
      // no traffic after a switch-over to a real device: the frames the guest had in flight at SUSPEND
      // are the only ones it did not see come back. The destination must have transmitted exactly those.
      ok(s.traffic.inFlightAtSuspend !== null && s.traffic.inFlightAtSuspend > 0, `frames in flight at SUSPEND: ${s.traffic.inFlightAtSuspend}`);
      eq(s.traffic.lost, s.traffic.inFlightAtSuspend, 'frames not seen back = the burst handed over at SUSPEND');
      // vdpa_sim processes a ring only on a kick, never on DRIVER_OK: the destination kicks every data
      // queue once enabled (src/migrate), so the handed-over burst goes out with no guest kick
      const n = s.traffic.inFlightAtSuspend!;
      eq((await txPacketsAfter(txBefore, n)) - txBefore, n, 'the real destination transmitted the handed-over burst, each frame once');
      ok(s.cvq !== null && s.cvq.acksErr === 0 && s.cvq.applied === s.cvq.commands, `cvq ${JSON.stringify(s.cvq)}`);
      eq(formatMac(right(dev.getConfig(0, 6), 'GET_CONFIG mac')), mac, 'MAC on the real device');
      ctx.metric({ name: `migration to the real device (${strategy})`, value: Math.round(s.wallMs), unit: 'ms wall', note: `downtime ${s.downtime?.wallMs.toFixed(1) ?? '?'} ms wall, ${s.precopy.rounds.length} precopy rounds, ${s.traffic.inFlightAtSuspend} frames handed over` });
    } finally {
      dev.close();
    }
  }, { timeoutMs: 240_000 });
}
