import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { parseFault } from '../../src/device/sim/faults.js';
import { MIGRATION_PHASES } from '../../src/migrate/controller.js';
import { expectRolledBack, migrate } from './helpers.js';

const fault = (spec: string) => {
  const f = parseFault(spec);
  if (E.isLeft(f)) throw new Error(f.left.message);
  return f.right;
};

describe('migrate: faults on demand end rolled back with the source intact', () => {
  it.each([
    // destination CVQ: the restore fails naming the command, the destination resets, the source resumes
    ['nack:VLAN_ADD', 'restoringCvq', /VLAN_ADD/],
    ['wrong-used-len:3:MQ_RSS_CONFIG', 'restoringCvq', /EIO/],
    ['no-answer:GUEST_OFFLOADS_SET', 'restoringCvq', /ETIMEDOUT/],
    // source device: switching to SVQ fails at setup and is undone step by step
    ['suspend-fails', 'setup', /VHOST_VDPA_SUSPEND/],
    ['iotlb-map-fails', 'setup', /VHOST_IOTLB_UPDATE/],
  ])('--fault %s fails in %s', async (spec, phase, message) => {
    const run = await migrate({ faults: [fault(spec)] });
    expectRolledBack(run);
    expect(run.summary.error).toMatch(message);
    const phases = run.summary.phases.map((p) => p.phase);
    expect(phases[phases.length - 1]).toBe(phase);
    if (phase === 'restoringCvq') {
      // the destination was reset: nothing it restored survives
      expect(run.destination.netState().vlanFilter.every((w) => w === 0)).toBe(true);
      expect(run.summary.cvq!.applied).toBeLessThan(run.summary.cvq!.commands);
    } else {
      expect(run.summary.precopy.rounds).toEqual([]);
      expect(run.summary.cvq).toBeNull();
    }
  });

  it('resume-fails leaves nothing half done silently: the migration is reported failed', async () => {
    const run = await migrate({ faults: [fault('resume-fails')] });
    expect(run.summary.outcome).toBe('failed');
    expect(run.summary.error).toMatch(/rollback failed/);
  });
});

// SVQ forwarding on the main thread and on one worker per queue pair (src/effects/svq.ts svqThreads)
describe.each(['main', 'per-queue-pair'] as const)('migrate: CANCEL in every phase rolls back with the source intact, svqThreads %s', (svqThreads) => {
  it.each(MIGRATION_PHASES)('--cancel-at %s', async (phase) => {
    const run = await migrate({ cancelAt: phase, svqThreads });
    expect(run.world.source.backend.threads).toBe(svqThreads);
    expectRolledBack(run);
    expect(run.summary.error).toBe(`cancelled: --cancel-at ${phase}`);
    expect(run.summary.phases.map((p) => p.phase)).toContain(phase);
    if (phase === 'setup' || phase === 'precopy' || phase === 'stopAndCopy') expect(run.summary.cvq).toBeNull();
  });
});
