/**
 * Every machine, registered once: the diagrams, model-based testing, the library index and the docs
 * find them here. A new machine is added to this list and nowhere else.
 */
import { cvqCommandMachine } from './cvq-command.js';
import { deviceLifecycleMachine } from './device-lifecycle.js';
import { migrationMachine } from './migration.js';
import { svqRelayoutMachine } from './svq-relayout.js';
import { svqSwitchMachine } from './svq-switch.js';

/** In report order: the leaves first, then the machines that invoke them. */
export const MACHINES = [deviceLifecycleMachine, svqSwitchMachine, svqRelayoutMachine, cvqCommandMachine, migrationMachine] as const;
export type MachineId = (typeof MACHINES)[number]['id'];

export { cvqCommandMachine, deviceLifecycleMachine, migrationMachine, svqRelayoutMachine, svqSwitchMachine };
