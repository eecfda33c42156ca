import { bringUpCvq } from '../src/mbt/sim.js';
import { runCvqCommands } from '../src/effects/cvq.js';
import { toCvqCommand, planRestore } from '../src/state/plan.js';
import { maximalState } from '../src/state/maximal.js';
for (let r = 0; r < 3; r++) {
  const env = bringUpCvq({});
  const commands = planRestore(maximalState({ alluni: true, nomulti: true, nouni: true }), env.negotiated).map(toCvqCommand);
  const t0 = performance.now(); const o = await runCvqCommands(env.engine, commands, { strategy: 'serial', ackTimeoutMs: 1000 });
  console.log(((performance.now() - t0) * 1000 / o.roundTrips).toFixed(1), 'us/trip');
  env.sim.close();
}
