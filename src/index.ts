/**
 * shadowvq as a library. Three layers, each usable alone:
 *
 *  - machines: pure XState v5 definitions (effects are typed placeholder actors) — run them with your
 *    own actors through `machine.provide({ actors })`, draw them, or generate tests from them;
 *  - reducers: the virtio-net device state, CVQ command semantics, restore planning, feature
 *    negotiation, the device-status rules and the migration record codec — pure functions;
 *  - effects: the simulated and vhost-vdpa devices, the SVQ engine, the CVQ engine and the actors that
 *    bind the machines to them; `wireMigration` / `runMigration` put a migration together.
 */

// ---- machines (pure definitions) ----
export { migrationMachine, type MigrationMachine, type MigrationContext, type MigrationEvent, type MigrationInput, type DirtyRound } from '../machines/migration.js';
export { svqRelayoutMachine, type SvqRelayoutContext, type SvqRelayoutEvent, type SvqRelayoutInput, type RelayoutStep } from '../machines/svq-relayout.js';
export { svqSwitchMachine, type SvqSwitchContext, type SvqSwitchEvent, type SvqSwitchInput, type SvqStep, type SvqTrigger } from '../machines/svq-switch.js';
export {
  cvqCommandMachine,
  type CvqCommand,
  type CvqCommandContext,
  type CvqCommandEvent,
  type CvqCommandInput,
  type CvqCommandOutput,
  type CvqFailure,
  type CvqStrategy,
} from '../machines/cvq-command.js';
export { deviceLifecycleMachine, type LifecycleContext, type LifecycleEvent, type LifecycleInput } from '../machines/device-lifecycle.js';
export { ActorNotProvided, placeholder, failTo } from '../machines/actors.js';
export { MACHINES, type MachineId } from '../machines/index.js';
export { bind, type ActorsOf, type EffectsOf, type EffectOf } from '../machines/contract.js';
export { portOf, portPlaceholder, type PortOps, type PortEffects, type PortLogic } from '../machines/port.js';

// ---- reducers ----
export { applyCommand, applyAll, commandAllowed, type CommandRefused } from './state/apply.js';
export { resetNetState, vlanList, vlanFilterOf, DEFAULT_LIMITS, type NetDeviceState, type DeviceLimits } from './state/net-state.js';
export { planRestore, planCommands, type RestoreCommand } from './state/plan.js';
export { viewThrough } from './state/view.js';
export { decodeStateJson, parseStateJson, encodeStateJson, StateJsonCodec, type StateJson, type StateJsonError } from './state/json.js';
export { negotiate, validateAccepted, writeStatus, checkStatus, STATUS } from './state/lifecycle.js';
export {
  decodeMigrationRecord,
  parseMigrationRecord,
  makeMigrationRecord,
  encodeMigrationRecord,
  MIGRATION_FORMAT,
  MIGRATION_RECORD_VERSION,
  type MigrationRecord,
} from './state/migration-record.js';
export { F, FEATURE_BITS, FULL_PROFILE_FEATURES, hasFeature, maskOf, parseFeatureList, formatFeatures, type FeatureName } from './virtio/features.js';

// ---- devices ----
export { openDevice, parseSimSpec, SimVdpaDevice, deviceError, type VdpaDevice, type DeviceError, type DeviceSpec } from './device/index.js';
export { parseFault, type Fault, type FaultPlan } from './device/sim/faults.js';

// ---- engines ----
export { ShadowVirtqueue, IovaTree, DirtyLog, SvqDevice, type SvqHandover, type SvqStats } from './svq/index.js';
export { CvqEngine } from './cvq/engine.js';
export { createShadowCvq, programShadowCvq, destroyShadowCvq } from './cvq/shadow.js';
export { restoreState } from './cvq/restore.js';

// ---- effects (the machines' actors on real devices) ----
export { type Effect, type Effects } from './effects/common.js';
export { lifecycleEffects, type LifecycleEffects } from './effects/lifecycle.js';
export { cvqCommandEffects, runCvqCommands, toCvqCommand, type CvqCommandEffects } from './effects/cvq.js';
export { svqSwitchEffects, SvqBackend, type SvqSwitchEffects } from './effects/svq.js';
export { svqRelayoutEffects, ShadowRingSets, type SvqRelayoutEffects } from './effects/svq-relayout.js';
export { createDataPath, GUEST_RAM_GPA, type DataPath } from './effects/datapath.js';

// ---- migration ----
export * from './migrate/index.js';
