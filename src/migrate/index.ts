/** Live migration of a vDPA NIC: world, effects, controller, report (see controller.ts). */
export { demoStateJson, demoVlans } from './demo-state.js';
export { GuestNet, GUEST_BUF, frameLen, type GuestNetOptions, type GuestStats } from './guest.js';
export {
  bringUpSource,
  openDestination,
  MigrationStream,
  runTraffic,
  guestRamFor,
  sourceSideOf,
  destinationSideOf,
  probeOf,
  guestRingsOf,
  ownDevice,
  migrateError,
  type Source,
  type SourceOptions,
  type SourceRunOptions,
  type Destination,
  type StreamOptions,
  type MigrateError,
} from './world.js';
export {
  sourceEffects,
  destinationEffects,
  restoredModel,
  stateDifferences,
  type SourceEffects,
  type DestinationEffects,
  type SourceSide,
  type DestinationSide,
  type MigrationEffects,
  type DestinationState,
  type GuestWorkload,
  type PageStream,
  type DeviceProbe,
  type MigrationNote,
} from '../effects/migration.js';
export {
  wireMigration,
  runMigration,
  idempotent,
  persist,
  restoreSnapshot,
  MIGRATION_PHASES,
  SOURCE_PHASES,
  DESTINATION_PHASES,
  type RunOptions,
  type MigrationSummary,
  type MigrationPhase,
  type MigrationActor,
  type MigrationActorName,
  type PhaseRow,
  type RoundRow,
} from './controller.js';
export { formatSummary, summaryJson } from './report.js';
export { transitionInspector, phaseOf, statePath, type TransitionRecord } from './transitions.js';
