/**
 * Random walks with shrinking (src/mbt/walks.ts) and path files (src/mbt/replay.ts): walks follow the
 * model (faults included), a planted defect is found and shrunk to its shortest walk, the walk is written
 * and replayed step by step through `shadowvq mbt --replay`, and a corrupt file or one for another
 * version of the machine is refused with a clear message and exit 2.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { runMbtCli } from '../../src/cli/mbt.js';
import { planMbt } from '../../src/mbt/index.js';
import { deriveModel } from '../../src/mbt/model.js';
import { selectEdge } from '../../src/mbt/paths.js';
import { decodePathFile, machineHash, pathOf, toPathFile } from '../../src/mbt/replay.js';
import { runWalks, walkPath } from '../../src/mbt/walks.js';
import { cvqScript, scriptedHarness, svqScript } from '../../src/mbt/scripts.js';
import { getInitialSnapshot } from 'xstate';

const dir = mkdtempSync(join(tmpdir(), 'shadowvq-walks-'));
/** The planted failure's walk, written as a path file (the walk test writes it). */
let plantedFile = '';
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('random walks', () => {
  it('a walk is a model path: every step the edge the model takes where the walk is; faults among them', () => {
    const m = deriveModel(svqScript.machine);
    let faults = 0;
    for (let s = 0; s < 50; s++) {
      const choices = Array.from({ length: 40 }, (_, i) => (s * 7919 + i * 104729) % 1024);
      const p = walkPath(m, svqScript, choices);
      let v = getInitialSnapshot(m.model).value;
      for (const st of p.steps) {
        expect(selectEdge(m, v, st.edge.type)).toBe(st.edge);
        v = st.value;
      }
      faults += p.steps.filter((st) => st.edge.kind === 'error').length;
      expect(walkPath(m, svqScript, choices)).toEqual(p); // deterministic
    }
    expect(faults).toBeGreaterThan(0);
  });

  it('the scripted machines pass N seeded walks', async () => {
    const [plan] = planMbt([cvqScript]);
    const r = await runWalks(plan!.model, plan!.harness, { walks: 30, seed: 7 });
    expect(r.failure).toBeUndefined();
    expect(r.runs).toBe(30);
  });

  it('a planted defect is found and shrunk to the shortest walk that shows it', async () => {
    // planted: the machine breaks the second time it enters `shadow`
    const base = svqScript.script;
    const planted = scriptedHarness({
      ...base,
      invariants: (view) => {
        const into = view.path.steps.slice(0, view.index + 1).filter((s) => JSON.stringify(s.value) === '"shadow"').length;
        return [...(base.invariants?.(view) ?? []), ...(into >= 2 ? ['planted: shadow entered twice'] : [])];
      },
    });
    const [plan] = planMbt([planted]);
    const r = await runWalks(plan!.model, planted, { walks: 100, seed: 1 });
    expect(r.failure).toBeDefined();
    const f = r.failure!;
    expect(f.failure.message).toContain('planted: shadow entered twice');
    expect(f.shrinks).toBeGreaterThan(0);
    // the shortest way into shadow twice: passthrough → shadow (6 steps), out and back (≥ 6 + 6 more)
    const shadowAt = f.path.steps.map((s, i) => (JSON.stringify(s.value) === '"shadow"' ? i : -1)).filter((i) => i >= 0);
    expect(shadowAt).toHaveLength(2);
    expect(f.path.steps.length).toBe(shadowAt[1]! + 1); // nothing after the failing step
    // the same seed finds the same walk
    const again = await runWalks(plan!.model, planted, { walks: 100, seed: 1 });
    expect(again.failure!.path.description).toBe(f.path.description);

    // written, decoded and mapped back to the same path
    const file = toPathFile(plan!.model, f.path, 'scripted', 1, { step: f.failure.step, message: f.failure.message });
    const back = E.chain((pf: typeof file) => pathOf([plan!.model], pf))(decodePathFile(JSON.stringify(file)));
    expect(E.isRight(back) && back.right.path.steps.map((s) => s.edge)).toEqual(f.path.steps.map((s) => s.edge));
    plantedFile = join(dir, 'planted.json');
    writeFileSync(plantedFile, JSON.stringify(file));
  }, 120_000);
});

describe('shadowvq mbt --replay', () => {
  const m = deriveModel(svqScript.machine);
  const walk = walkPath(m, svqScript, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const good = toPathFile(m, walk, 'sim', 3, null);
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('replays a path file step by step on the device given', async () => {
    for (const device of ['scripted', 'sim']) {
      const out = await runMbtCli({ replay: write('good.json', JSON.stringify(good)), device, progress: false });
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout).toContain(`replay svq-switch on ${device}: ${walk.steps.length} steps (written on sim, seed 3)`);
      expect(out.stdout.match(/^ {2}ok /gm)).toHaveLength(walk.steps.length);
      expect(out.stdout).toMatch(/passed\n$/);
    }
  });

  it('refuses a corrupt file or one for another machine version: a clear message, exit 2', async () => {
    const cases: [string, string, RegExp][] = [
      ['notjson', '{"format":', /not JSON/],
      ['shape', JSON.stringify({ ...good, steps: [{ source: 1, type: 'ENABLE' }] }), /steps\.0\.source: expected string, got 1/],
      ['format', JSON.stringify({ ...good, format: 'other' }), /format: expected "shadowvq-mbt-path"/],
      ['version', JSON.stringify({ ...good, machineHash: '0'.repeat(64) }), /another version of svq-switch/],
      ['machine', JSON.stringify({ ...good, machine: 'nope' }), /machine: no machine "nope"/],
      ['step', JSON.stringify({ ...good, steps: [good.steps[1], ...good.steps] }), /steps\.0: .+ is not enabled in "passthrough"/],
    ];
    for (const [name, text, message] of cases) {
      const out = await runMbtCli({ replay: write(`${name}.json`, text), device: 'scripted', progress: false });
      expect(out.code, name).toBe(2);
      expect(out.stderr, name).toMatch(message);
      expect(out.stderr, name).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect((await runMbtCli({ replay: join(dir, 'missing.json'), progress: false })).code).toBe(2);
    expect((await runMbtCli({ seed: '3', progress: false })).stderr).toMatch(/--seed needs --walks/);
    expect((await runMbtCli({ walks: '0', progress: false })).code).toBe(2);
    expect(machineHash(m)).toBe(good.machineHash);
  });

  it('replays a failing walk written elsewhere: the product harness (no planted defect) passes it and says it failed when written', async () => {
    expect(plantedFile).not.toBe('');
    const out = await runMbtCli({ replay: plantedFile, device: 'scripted', progress: false });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/passed \(it failed when written, at step \d+: invariant after .+: planted: shadow entered twice\)\n$/);
  });

  it('--walks: N walks per machine in --json; nothing written when none fails', async () => {
    const out = await runMbtCli({ device: 'scripted', walks: '5', seed: '2', walkDir: dir, simpleLimit: '0', progress: false, json: true });
    const doc = JSON.parse(out.stdout) as { machines: { walks: { walks: number; failed: boolean } }[] };
    expect(doc.machines.map((x) => x.walks)).toEqual(doc.machines.map(() => expect.objectContaining({ walks: 5, failed: false })));
    expect(() => readFileSync(join(dir, 'shadowvq-walk-svq-switch-seed2.json'))).toThrow();
  }, 120_000);
});
