/**
 * The machines' rooms (./sim/<machine>.ts): each holds its machine's simulator harness (listed here),
 * its harness over any device and its `DeviceRoom` for the conformance run (../device.ts).
 *
 * Simulated-device harnesses: the machines with their real effects (src/effects/) on a fresh
 * `SimVdpaDevice` per path. Each invocation is gated: the effect runs only when the path takes the
 * actor's done or error edge, so the real machine moves one model step at a time. Error edges are
 * made real by arming a fault just before the effect runs — the simulator's own fault plan where it
 * has one (suspend/resume refused, IOTLB map failure, CVQ NACK / wrong length / no answer), else a
 * one-shot failure of the uAPI call the effect makes (`FaultyDevice`). Guarded done edges are steered
 * the same way (a device that hides VERSION_1, one that refuses FEATURES_OK).
 */
export * from './sim/device.js';
export * from './sim/lifecycle.js';
export * from './sim/cvq.js';
export * from './sim/svq.js';
export * from './sim/svq-relayout.js';
export * from './sim/migration.js';
import type { Harness } from './runner.js';
import { lifecycleSim } from './sim/lifecycle.js';
import { cvqSim } from './sim/cvq.js';
import { svqSim } from './sim/svq.js';
import { relayoutSim } from './sim/svq-relayout.js';
import { migrationSim } from './sim/migration.js';

export const SIM_HARNESSES: readonly Harness[] = [lifecycleSim, cvqSim, svqSim, relayoutSim, migrationSim];
