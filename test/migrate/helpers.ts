import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import { SimVdpaDevice } from '../../src/device/sim/device.js';
import { decodeStateJson, encodeStateJson } from '../../src/state/json.js';
import type { NetDeviceState } from '../../src/state/net-state.js';
import { viewThrough } from '../../src/state/view.js';
import { demoStateJson } from '../../src/migrate/demo-state.js';
import { runMigration, type MigrationSummary, type RunOptions } from '../../src/migrate/controller.js';
import type { Destination, Source } from '../../src/migrate/world.js';
import { FULL_PROFILE_FEATURES } from '../../src/virtio/features.js';
import { withTestPoints, type TestPoints } from '../../testkit/migrate-points.js';

export function demoState(): NetDeviceState {
  const s = decodeStateJson(demoStateJson());
  if (E.isLeft(s)) throw new Error(s.left.message);
  return s.right;
}

export interface Run {
  readonly summary: MigrationSummary;
  readonly world: { readonly source: Source; readonly destination: Destination };
  readonly source: SimVdpaDevice;
  readonly destination: SimVdpaDevice;
}

/**
 * The demo migration on two simulators (smaller RAM than `npm start` to keep the suite fast); the test
 * points (faults, cancel, restart) as hooks (testkit/migrate-points.ts).
 */
export async function migrate(over: Partial<RunOptions> & TestPoints = {}): Promise<Run> {
  const { faults, cancelAt, restartAt, ...options } = over;
  // SVQ workers run over guest RAM and shadow rings on SharedArrayBuffers
  const source = new SimVdpaDevice({ name: 'src', ...(options.svqThreads === 'per-queue-pair' ? { sharedMemory: true } : {}) });
  const destination = new SimVdpaDevice({ name: 'dst' });
  let world: Run['world'] | undefined;
  const base: RunOptions = {
    source,
    destination,
    state: demoState(),
    features: FULL_PROFILE_FEATURES,
    strategy: 'parallel',
    ramBytes: 8 << 20,
    framesBefore: 1000,
    framesAfter: 1000,
    ...options,
  };
  const r = await runMigration(
    withTestPoints(
      {
        ...base,
        onWorld: (w) => {
          world = w;
          options.onWorld?.(w);
        },
      },
      { ...(faults === undefined ? {} : { faults }), ...(cancelAt === undefined ? {} : { cancelAt }), ...(restartAt === undefined ? {} : { restartAt }) },
    ),
  );
  if (E.isLeft(r)) throw new Error(`${r.left.where}: ${r.left.message}`);
  return { summary: r.right, world: world!, source, destination };
}

const json = (s: NetDeviceState) => JSON.stringify(encodeStateJson(s));

/** Completed: the destination device holds the source's state (independently of the summary), nothing lost. */
export function expectCompleted(run: Run): void {
  const s = run.summary;
  expect(s.error).toBeNull();
  expect(s.outcome).toBe('completed');
  expect(s.verdict).toMatchObject({ stateEqual: true, ramEqual: true });
  const negotiated = BigInt(s.source.negotiated);
  expect(json(viewThrough(run.destination.netState(), negotiated))).toBe(json(viewThrough(run.source.netState(), negotiated)));
  expect(run.destination.netState().vlanFilter).toEqual(run.source.netState().vlanFilter);
  expect(s.traffic.errors).toEqual([]);
  expect(s.traffic.lost).toBe(0);
  expect(s.traffic.received).toBe(s.traffic.sent);
  expect(s.traffic.after).toBeGreaterThan(0);
}

/** Rolled back: the source runs with the state the guest gave it, SVQ off, the guest's traffic intact. */
export function expectRolledBack(run: Run): void {
  const s = run.summary;
  expect(s.outcome).toBe('rolled-back');
  expect(s.verdict.sourceIntact).toBe(true);
  expect(json(run.source.netState())).toBe(json(viewThrough(demoState(), BigInt(s.source.negotiated))));
  expect(run.source.isSuspended()).toBe(false);
  expect(s.traffic.errors).toEqual([]);
  expect(s.traffic.lost).toBe(0);
  expect(s.traffic.after).toBeGreaterThan(0);
}
