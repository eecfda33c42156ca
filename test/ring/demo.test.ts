import { describe, expect, it } from 'vitest';
import { formatRingDemo, runRingLayout } from '../../src/cli/ring-demo.js';

describe('ring demo', () => {
  it.each(['split', 'packed'] as const)('%s: every chain comes back with a checked reply, with laps and suppressed notifications', (layout) => {
    const row = runRingLayout(layout, { chains: 3000, size: 16, seed: 7 });
    expect(row.verdict).toBe('ok');
    expect(row.chains).toBe(3000);
    expect(row.indirect).toBeGreaterThan(0);
    expect(row.laps).toBeGreaterThan(100);
    expect(row.kicks).toBeGreaterThan(0);
    expect(row.kicks).toBeLessThan(row.chains); // EVENT_IDX suppresses most kicks
    expect(formatRingDemo([row])).toContain(' ok');
  });
});
