/** Live migration of a vDPA NIC: world, effects, controller, report (see controller.ts). */
export { demoStateJson, demoVlans } from './demo-state.js';
export { GuestNet, GUEST_BUF, frameLen, type GuestNetOptions, type GuestStats } from './guest.js';
export {
  bringUpSource,
  openDestination,
  MigrationStream,
  runTraffic,
  negotiateDevice,
  guestRamFor,
  migrateError,
  type Source,
  type SourceOptions,
  type Destination,
  type StreamOptions,
  type MigrateError,
} from './world.js';
export {
  sourceMigrationEffects,
  destinationMigrationEffects,
  stateDifferences,
  type SourceMigrationEffects,
  type DestinationMigrationEffects,
  type MigrationNote,
  type SourceEffectOptions,
  type DestinationEffectOptions,
} from './effects.js';
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
