import { bringUpCvq } from '../src/mbt/sim.js';
import { cvqCommandEffects, runCvqCommands } from '../src/effects/cvq.js';
import { toCvqCommand, planRestore } from '../src/state/plan.js';
import { maximalState } from '../src/state/maximal.js';
import { firstBadAck } from '../machines/cvq-command.js';
async function one(strategy: 'serial'|'parallel', how: 'machine'|'bare') {
  const env = bringUpCvq({});
  const commands = planRestore(maximalState({ alluni: true, nomulti: true, nouni: true }), env.negotiated).map(toCvqCommand);
  const t0 = performance.now(); let trips = 0;
  if (how === 'machine') { const o = await runCvqCommands(env.engine, commands, { strategy, ackTimeoutMs: 1000 }); trips = o.roundTrips; }
  else { const fx = cvqCommandEffects(env.engine).cvqPort; const sig = new AbortController().signal;
    for (let first = 0; first < commands.length;) { const { written } = await fx.writeBatch({ strategy, commands, first }, sig); const { acks } = await fx.awaitAcks({ first, count: written, timeoutMs: 1000 }, sig); if (firstBadAck(acks)) throw 1; first += written; trips++; } }
  const ms = performance.now() - t0; env.sim.close(); return { ms, trips };
}
for (const s of ['parallel', 'serial'] as const) for (let r = 0; r < 4; r++) { const b = await one(s, 'bare'); const m = await one(s, 'machine'); console.log(s, 'bare', (b.ms*1000/b.trips).toFixed(1), 'machine', (m.ms*1000/m.trips).toFixed(1), 'us/trip; ratio', (b.ms/m.ms).toFixed(2), 'overhead', ((m.ms-b.ms)*1000/m.trips).toFixed(1)); }
