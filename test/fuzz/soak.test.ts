import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('soak (a short run of npm run soak)', () => {
  it('20k chains through SVQ with switches and a hand-over: none lost, duplicated or corrupted', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'scripts/soak.ts', '--chains', '20000', '--switch-every', '3000', '--size', '64', '--guest', 'packed', '--shadow', 'split', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ added: 20000, returned: 20000, inFlight: 0, lost: 0, duplicates: 0, contentErrors: 0, handovers: 1, problem: null });
    expect(out.switches as number).toBeGreaterThanOrEqual(6);
  });

  it('bad arguments exit 2 with a message', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/soak.ts', '--size', '12'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/power of two/);
  });
});
