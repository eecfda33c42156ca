import { describe, expect, it } from 'vitest';
import { runMbtCli } from '../../src/cli/mbt.js';
import { runDiagramsCli } from '../../src/cli/diagrams.js';

describe('shadowvq mbt', () => {
  it('--json prints exactly the documented shape, all covered, exit 0', async () => {
    const out = await runMbtCli({ device: 'scripted', json: true, progress: false, simpleLimit: '0' });
    expect(out.code).toBe(0);
    const doc = JSON.parse(out.stdout) as { machines: Record<string, unknown>[] };
    expect(doc.machines.map((m) => m.id)).toEqual(['device-lifecycle', 'svq-switch', 'svq-relayout', 'cvq-command', 'migration']);
    for (const m of doc.machines) {
      // today's fields first, unchanged; then the coverage beyond them (src/mbt/coverage.ts)
      expect(Object.keys(m)).toEqual(['id', 'states', 'transitions', 'paths', 'failures', 'impossible', 'differences', 'infeasible', 'transitionPairs', 'guards']);
      expect(m.differences).toEqual([]);
      const p = m.transitionPairs as { covered: number; total: number; infeasible: number; infeasiblePairs: unknown[] };
      expect(p.covered + p.infeasible).toBeLessThanOrEqual(p.total);
      expect(p.infeasiblePairs).toHaveLength(p.infeasible);
      const s = m.states as { covered: number; total: number };
      const t = m.transitions as { covered: number; total: number };
      expect(s.covered).toBe(s.total);
      expect(t.covered + (m.impossible as string[]).length).toBe(t.total);
      expect(m.failures).toBe(0);
      expect(m.paths as number).toBeGreaterThan(0);
    }
  });

  it('text lists every machine; usage errors exit 2', async () => {
    const out = await runMbtCli({ device: 'scripted', progress: false, simpleLimit: '0' });
    expect(out.stdout).toMatch(/^device-lifecycle\s+states (\d+)\/\1\s+transitions (\d+)\/\2\s+paths/);
    expect(out.stdout).toContain('simple paths > limit, not run');
    expect((await runMbtCli({ device: 'qemu' })).code).toBe(2);
    expect((await runMbtCli({ simpleLimit: '-1' })).code).toBe(2);
  });
});

describe('shadowvq diagrams', () => {
  it('prints one machine in either format; unknown ones exit 2', () => {
    expect(runDiagramsCli({ machine: 'svq-switch' }).stdout).toContain('stateDiagram-v2');
    expect(runDiagramsCli({ machine: 'svq-switch', format: 'dot' }).stdout).toMatch(/^digraph "svq-switch"/);
    expect(runDiagramsCli({ machine: 'nope' }).code).toBe(2);
    expect(runDiagramsCli({ format: 'png' }).code).toBe(2);
  });
});
