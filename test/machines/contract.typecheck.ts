/**
 * Type-level test of the machine ⇄ effects contract (machines/contract.ts): `npx tsc --noEmit` checks
 * this file (tsconfig includes test/). Each `@ts-expect-error` marks a binding that must NOT compile;
 * if the contract stopped catching it, the directive itself would be the error ("Unused
 * '@ts-expect-error' directive") and tsc would fail. The well-typed bindings must compile as they are.
 * Nothing here runs: vitest only picks up *.test.ts.
 */
import { bind, type EffectsOf } from '../../machines/contract.js';
import { cvqCommandMachine, type CvqAck } from '../../machines/cvq-command.js';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import { migrationMachine } from '../../machines/migration.js';

type CvqEffects = EffectsOf<typeof cvqCommandMachine>;
type LifecycleEffects = EffectsOf<typeof deviceLifecycleMachine>;

const acks: readonly CvqAck[] = [];

// well typed: writeBatch answers at once, awaitAcks later
export const good: CvqEffects = { cvqPort: { writeBatch: (input) => ({ written: input.commands.length - input.first }), awaitAcks: async () => ({ acks }), exchange: async () => ({ acks }) } };
export const bound = bind(cvqCommandMachine, good);

// wrong output: writeBatch must answer { written: number }
export const wrongOutput = bind(cvqCommandMachine, {
  cvqPort: {
    // @ts-expect-error — `written` is a string
    writeBatch: () => ({ written: 'all of them' }),
    awaitAcks: async () => ({ acks }),
    exchange: async () => ({ acks }),
  },
});

// wrong output, as a promise: awaitAcks must resolve with { acks: CvqAck[] }
export const wrongAsyncOutput = bind(cvqCommandMachine, {
  cvqPort: {
    writeBatch: () => ({ written: 1 }),
    // @ts-expect-error — an ack count is not the acks
    awaitAcks: async () => ({ acks: 3 }),
    exchange: async () => ({ acks }),
  },
});

// wrong input: writeBatch is given a WriteBatchInput, not a number
export const wrongInput = bind(cvqCommandMachine, {
  cvqPort: {
    // @ts-expect-error — the input is { strategy, commands, first }
    writeBatch: (first: number) => ({ written: first }),
    awaitAcks: async () => ({ acks }),
    exchange: async () => ({ acks }),
  },
});

// a promise actor's effect with the wrong output: readStatus outputs { status: number }
export const wrongPromiseOutput: Partial<LifecycleEffects> = {
  // @ts-expect-error — `status` is a number
  readStatus: async () => ({ status: '0x0f' }),
};

// a child machine's effect missing: migration's cvqCommand child needs its port
export const missingChildEffect = bind(migrationMachine, {
  // @ts-expect-error — cvqCommand's effects lack `cvqPort`
  cvqCommand: {},
});

// every effect of a machine, children included, is required where the whole set is asked for
// @ts-expect-error — no deviceLifecycle, svqSwitch, cvqCommand … given
export const missingChildren: EffectsOf<typeof migrationMachine> = { startDirtyLog: async () => ({ shadowed: false }) };

// an effect the machine does not declare is refused
export const undeclared = bind(cvqCommandMachine, {
  cvqPort: good.cvqPort,
  // @ts-expect-error — cvq-command declares no `kick` actor
  kick: async () => undefined,
});
