/**
 * Simulated-device harnesses: the machines with their real effects (src/effects/) bound to a fresh
 * `SimVdpaDevice` per path. Filled in machine by machine as the effects land.
 */
import type { Harness } from './runner.js';

export const SIM_HARNESSES: readonly Harness[] = [];
