import { highlightDot } from '../src/report/index.js';
import { toDot } from '../src/diagrams/index.js';
import { migrationMachine } from '../machines/migration.js';
const rec = (fromState: string, toState: string, event: string) => ({ machine: 'migration', end: 'source' as const, from: fromState, to: toState, fromState, toState, event, t: 0 });
const edges = (ts: any[]) => highlightDot(toDot(migrationMachine), ts).split('\n').filter((l) => l.includes('class="taken"')).map((l) => l.trim().replace(/ \[.*/, ''));
console.log(edges([rec('idle', 'source.attaching', 'MIGRATE'), rec('source.attaching', 'source.active.setup.startingLog', 'xstate.snapshot.device'), rec('source.active.setup.startingLog', 'source.rollingBack.stoppingLog', 'CANCEL')]));
console.log(edges([rec('source.active.setup.startingLog', 'source.rollingBack.stoppingLog', 'xstate.error.actor.0.migration.source.active.setup.startingLog')]));
