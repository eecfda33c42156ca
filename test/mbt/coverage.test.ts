/**
 * Coverage beyond states and transitions (src/mbt/pairs.ts, guards.ts, coverage.ts, coverage-conformance.ts):
 * the pair universe and its reasons, pairs read from what the machine took (targetless relays between
 * them allowed), a defect only a pair path reaches, guard outcomes, and the conformance probes on the
 * simulator's profiles (the stale ack detected by name; every device left reset).
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { MACHINES } from '../../machines/index.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../../src/device/sim/device.js';
import { probeConformance } from '../../src/mbt/coverage-conformance.js';
import { coverageComplete, runCoverage } from '../../src/mbt/coverage.js';
import { guardOutcomes } from '../../src/mbt/guards.js';
import { planMbt, runMachine } from '../../src/mbt/index.js';
import { deriveModel, type ModelEdge } from '../../src/mbt/model.js';
import { leavesTargetOf, pairKey, pairsTaken, pairUniverse } from '../../src/mbt/pairs.js';
import { edgeKey } from '../../src/mbt/runner.js';
import { cvqScript, scriptedHarness, svqScript, type ScriptedHarness } from '../../src/mbt/scripts.js';

const scriptOf = (h: ScriptedHarness) => h.script;

describe('transition pairs', () => {
  it('the universe: every pair where t2 leaves t1 target, each feasible in the model or infeasible with a reason', () => {
    for (const machine of MACHINES) {
      const m = deriveModel(machine);
      const u = pairUniverse(m);
      expect(u.all.length).toBeGreaterThan(0);
      for (const p of u.all) {
        expect(leavesTargetOf(p.first, p.second)).toBe(true);
        expect(u.feasible.has(p.key) !== u.infeasible.has(p.key), p.key).toBe(true);
      }
      for (const reason of u.infeasible.values()) expect(reason).toMatch(/^model: (after .+ the machine is in .+: .+|.+ is enabled in no reachable state)$/);
    }
  });

  it('names why the model rules a pair out (svq-switch: ENABLE leads to suspending, not readingBases)', () => {
    const m = deriveModel(svqScript.machine);
    const edge = (source: string, type: string) => m.edges.find((e) => e.source === `svq-switch.${source}` && e.type === type)!;
    const u = pairUniverse(m);
    expect(u.infeasible.get(pairKey(edge('passthrough', 'ENABLE'), edge('enabling.readingBases', 'done:readVringBases')))).toBe(
      'model: after ENABLE the machine is in enabling.suspending: enabling.readingBases is not active there',
    );
    expect(u.feasible.has(pairKey(edge('passthrough', 'ENABLE'), edge('enabling.suspending', 'done:suspendDevice')))).toBe(true);
  });

  it('reads pairs from the transitions taken: targetless ones between t1 and t2 do not break the pair', () => {
    const m = deriveModel(MACHINES.find((x) => x.id === 'migration')!);
    const byKey = new Map(m.edges.map((e) => [edgeKey(e), e]));
    const find = (source: string, type: string): ModelEdge => m.edges.find((e) => e.source === `migration.${source}` && e.type === type)!;
    const migrate = find('idle', 'MIGRATE');
    const relay = m.edges.find((e) => e.source === 'migration.source' && e.targets.length === 0)!;
    const attached = find('source.attaching', 'snapshot:device[deviceIs(running)]');
    const taken = pairsTaken([migrate, relay, attached].map(edgeKey), byKey);
    expect(taken).toContain(pairKey(migrate, relay));
    expect(taken).toContain(pairKey(migrate, attached));
    expect(taken).toContain(pairKey(relay, attached));
    // a transition with a target in between does break it
    expect(pairsTaken([migrate, attached, relay].map(edgeKey), byKey)).not.toContain(pairKey(migrate, relay));
  });

  it('scripted cvq-command: every pair covered or infeasible, every guard outcome seen', async () => {
    const [plan] = planMbt([cvqScript]);
    const { report, coverage } = await runCoverage(plan!);
    const p = coverage.transitionPairs;
    expect(report.failures).toBe(0);
    expect(p.uncovered).toEqual([]);
    expect(p.covered + p.infeasible).toBe(p.total);
    expect(p.infeasiblePairs).toHaveLength(p.infeasible);
    expect(coverage.guards.covered).toBe(coverage.guards.total);
    expect(coverageComplete(coverage)).toBe(true);
  });

  it('a defect only a pair reaches: transition coverage passes, the pair path fails', async () => {
    // planted: the machine misbehaves only when a rollback follows a failed pointToShadow
    const base = scriptOf(svqScript);
    const planted = scriptedHarness({
      ...base,
      invariants: (view) => {
        const prev = view.path.steps[view.index - 1]?.edge.type;
        const now = view.path.steps[view.index]?.edge.type;
        return [...(base.invariants?.(view) ?? []), ...(prev === 'error:pointToShadow' && now === 'done:rollback' ? ['planted: rollback after a failed pointToShadow'] : [])];
      },
    });
    const [plan] = planMbt([planted]);
    const plain = await runMachine(plan!);
    expect(plain.failures).toBe(0);
    const { report } = await runCoverage(plan!);
    expect(report.failureDetails.map((f) => f.message)).toEqual(['invariant after done:rollback: planted: rollback after a failed pointToShadow']);
  });
});

describe('guard outcomes', () => {
  it('each guard: true where its candidate is taken, false where a later one is; the rest named with why', () => {
    const m = deriveModel(cvqScript.machine);
    const { allowed, notModelled } = guardOutcomes(m);
    const wrongLength = allowed.filter((o) => o.guard.startsWith('wroteWrongLength @ flushing.inFlight'));
    expect(wrongLength.map((o) => o.outcome)).toEqual([true, false]);
    expect(wrongLength[1]!.shownBy.every((e) => e.notGuards.includes('wroteWrongLength'))).toBe(true);
    for (const n of notModelled) expect(n.reason).toMatch(/^model: /);
  });
});

describe('conformance probes on the simulator', () => {
  const probe = async (o: SimDeviceOptions) => {
    const atClose: unknown[] = [];
    let opened = 0;
    const c = await probeConformance(JSON.stringify(o), () => {
      const d = new SimVdpaDevice(o);
      opened++;
      const close = d.close.bind(d);
      d.close = () => {
        atClose.push(d.getStatus());
        close();
      };
      d.setOwner();
      return E.right(d);
    });
    // every device is closed, and reset when it is: never left half-configured
    expect(atClose).toHaveLength(opened);
    for (const s of atClose) expect(s).toEqual(E.right(0));
    return c;
  };

  it('full profile: every class acked OK and read back applied; SUSPEND/RESUME honoured; the base counts the commands', async () => {
    const c = await probe({ profile: 'full' });
    expect(c.errors).toEqual([]);
    expect(c.cvqClasses.map((r) => r.name)).toEqual(['MAC', 'MQ', 'GUEST_OFFLOADS', 'RX', 'VLAN', 'NOTF_COAL']);
    for (const r of c.cvqClasses) expect([r.negotiated, r.ackedOk, r.ackedErr, r.applied]).toEqual([true, 1, 0, 'applied']);
    expect(c.suspendResume.every((o) => o.result === 'yes')).toBe(true);
    expect(c.vringBase).toEqual([expect.objectContaining({ result: 'yes', detail: 'base 1, 1 command(s) used on this queue' })]);
    expect(c.quirks.filter((q) => q.detected)).toEqual([]);
  });

  it('vdpa_sim_net: only MAC acked; the stale ack detected by name only where the bug is', async () => {
    const clean = await probe({ profile: 'vdpa_sim_net' });
    expect(clean.cvqClasses.filter((r) => r.ackedOk === 1).map((r) => r.command)).toEqual(['MAC_ADDR_SET']);
    expect(clean.cvqClasses.filter((r) => r.ackedErr === 1).every((r) => !r.negotiated && r.applied === 'not applied')).toBe(true);
    expect(clean.quirks).toEqual([expect.objectContaining({ name: 'stale CVQ ack (vdpa_sim_net)', detected: false })]);
    const stale = await probe({ profile: 'vdpa_sim_net', staleAck: true });
    expect(stale.quirks).toEqual([expect.objectContaining({ name: 'stale CVQ ack (vdpa_sim_net)', detected: true })]);
    expect(stale.quirks[0]!.evidence).toMatch(/acked ERR alone but OK when batched behind MAC_ADDR_SET/);
  });
});
