// shadowvq inside your own migration controller: real effects, one actor replaced, every snapshot persisted.
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { fromPromise } from 'xstate';
import { decodeMigrationRecord, decodeStateJson, FULL_PROFILE_FEATURES, runMigration, SimVdpaDevice } from '../src/index.js';

export async function migrateNic(checkpoint: (end: string, snapshotJson: string) => void) {
  const state = decodeStateJson(JSON.parse(readFileSync(new URL('./state.json', import.meta.url), 'utf8')));
  if (E.isLeft(state)) throw new Error(state.left.message);
  return runMigration({
    source: new SimVdpaDevice({ name: 'nic0@host-a' }), destination: 'sim', state: state.right,
    features: FULL_PROFILE_FEATURES, strategy: 'parallel', ramBytes: 8 << 20,
    // machine.provide under the hood: admit the incoming record by your own policy
    replace: { loadRecord: fromPromise(async ({ input }: { input: { record: unknown } }) => {
      const r = decodeMigrationRecord(input.record, decodeStateJson);
      if (E.isLeft(r) || r.right.dirty.remaining > 1024) throw new Error('record refused by policy');
      return { record: r.right };
    }) },
    onActor: (end, actor) => actor.subscribe(() => checkpoint(end, JSON.stringify(actor.getPersistedSnapshot()))),
  });
}
