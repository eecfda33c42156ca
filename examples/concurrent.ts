/**
 * One controller, two NICs migrated at the same time: each its own source and destination device,
 * its own guest and state, both machines running interleaved on one event loop. Prints a line per
 * migration phase as it happens, then each NIC's verdict.
 *
 *   npx tsx examples/concurrent.ts
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeStateJson, demoStateJson, FULL_PROFILE_FEATURES, runMigration, SimVdpaDevice, type MigrationSummary, type TransitionRecord } from '../src/index.js';

export interface Nic {
  readonly name: string;
  readonly summary: MigrationSummary;
  readonly destination: SimVdpaDevice;
  readonly transitions: readonly TransitionRecord[];
}

export async function migrateTwoNics(log: (line: string) => void = () => {}): Promise<Nic[]> {
  const base = demoStateJson();
  const states = [
    base,
    // the second guest: another MAC, 2 queue pairs, a tenth of the VLANs
    { ...base, mac: '52:54:00:5e:c4:99', queuePairs: 2, vlans: base.vlans.slice(0, 30), rss: { ...base.rss!, indirectionTable: (base.rss!.indirectionTable as number[]).map((q) => q & 1) } },
  ];
  return Promise.all(
    states.map(async (json, i) => {
      const name = `nic${i}`;
      const state = decodeStateJson(json);
      if (E.isLeft(state)) throw new Error(`${name}: ${state.left.message}`);
      const destination = new SimVdpaDevice({ name: `${name}@host-b` });
      const transitions: TransitionRecord[] = [];
      const r = await runMigration({
        source: new SimVdpaDevice({ name: `${name}@host-a` }),
        destination,
        state: state.right,
        features: FULL_PROFILE_FEATURES,
        strategy: 'parallel',
        ramBytes: 8 << 20,
        onTransition: (t) => {
          transitions.push(t);
          if (t.machine === 'migration' && t.from !== t.to) log(`${t.t.toFixed(1).padStart(8)} ms  ${name}  ${t.end.padEnd(11)} ${t.to}`);
        },
      });
      if (E.isLeft(r)) throw new Error(`${name}: ${r.left.where}: ${r.left.message}`);
      return { name, summary: r.right, destination, transitions };
    }),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const nic of await migrateTwoNics((l) => console.log(l))) {
    const s = nic.summary;
    console.log(`${nic.name}: ${s.outcome}, state equal: ${s.verdict.stateEqual}, ${s.traffic.received}/${s.traffic.sent} frames back, downtime ${(s.downtime?.simUs ?? 0).toFixed(0)} µs simulated`);
  }
}
