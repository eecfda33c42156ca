import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { demoStateJson } from '../../src/migrate/demo-state.js';
import { decodeStateJson, encodeStateJson } from '../../src/state/json.js';
import { migrateNic } from '../../examples/embed.js';
import { migrateTwoNics } from '../../examples/concurrent.js';

describe('examples/', () => {
  it('state.json is the demo state (and a valid state file)', () => {
    const file = JSON.parse(readFileSync('examples/state.json', 'utf8')) as unknown;
    expect(file).toEqual(demoStateJson());
    expect(decodeStateJson(file)._tag).toBe('Right');
  });

  it('embed.ts: the migration completes with the replaced loadRecord; every snapshot is JSON a controller can store', async () => {
    const snaps: { end: string; json: string }[] = [];
    const r = await migrateNic((end, json) => snaps.push({ end, json }));
    expect(r._tag).toBe('Right');
    if (r._tag !== 'Right') return;
    expect(r.right.outcome).toBe('completed');
    expect(r.right.verdict.stateEqual).toBe(true);
    expect(new Set(snaps.map((s) => s.end))).toEqual(new Set(['source', 'destination']));
    const last = JSON.parse(snaps[snaps.length - 1]!.json) as { value: unknown; context: { record: { format: string } } };
    expect(last.value).toEqual({ destination: 'running' });
    expect(last.context.record.format).toBe('shadowvq-migration');
  });

  it('concurrent.ts: two NICs migrate at once, interleaved, each destination with its own state', async () => {
    const nics = await migrateTwoNics();
    expect(nics).toHaveLength(2);
    for (const n of nics) {
      expect(n.summary.outcome).toBe('completed');
      expect(n.summary.verdict.stateEqual).toBe(true);
      expect(n.summary.traffic.lost).toBe(0);
    }
    // no cross-talk: each destination holds its own guest's MAC, queue pairs and VLANs
    const [a, b] = nics.map((n) => encodeStateJson(n.destination.netState()));
    expect([a!.mac, a!.queuePairs, a!.vlans.length]).toEqual(['52:54:00:5e:c4:01', 4, 300]);
    expect([b!.mac, b!.queuePairs, b!.vlans.length]).toEqual(['52:54:00:5e:c4:99', 2, 30]);
    // interleaved: each migration began before the other finished
    const span = (n: (typeof nics)[number]) => [n.transitions[0]!.t, n.transitions[n.transitions.length - 1]!.t] as const;
    const [sa, sb] = nics.map(span);
    expect(sa![0]).toBeLessThan(sb![1]);
    expect(sb![0]).toBeLessThan(sa![1]);
  });
});
