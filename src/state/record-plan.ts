/**
 * What a migration destination sends: the restore plan of a migration record's device state for the
 * record's negotiated features, in the JSON form the machines keep (machines/migration computes it
 * when it enters the CVQ restore, so a persisted snapshot holds the record, not the plan).
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeStateJson } from './json.js';
import type { MigrationRecord } from './migration-record.js';
import { planRestore, toCvqCommand, type CvqCommandJson } from './plan.js';

export function recordCommands(record: MigrationRecord): E.Either<{ readonly message: string }, CvqCommandJson[]> {
  const state = decodeStateJson(record.device);
  if (E.isLeft(state)) return E.left({ message: `the record's device state: ${state.left.message}` });
  return E.right(planRestore(state.right, BigInt(record.features.negotiated)).map(toCvqCommand));
}
