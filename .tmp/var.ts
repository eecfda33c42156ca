import { createActor, toPromise, fromCallback, setup, assign, sendTo } from 'xstate';
import { bind } from './v/contract.js';
import { cvqCommandMachine as A } from './v/cvq-command.js';
import { cvqCommandMachine as B } from './v/cvq-noafter.js';
const N = 6000;
const cmds = Array.from({ length: N }, (_, i) => ({ name: 'x' + i, class: 4, cmd: 0, payload: '0100' }));
const acks = [{ len: 1, ack: 0 }];
const m = setup({
  actors: { port: fromCallback<any>(({ sendBack, receive }) => { receive((e: any) => { if (e.type === 'write') sendBack({ type: 'WRITTEN', n: e.n + 1 }); else Promise.resolve().then(() => sendBack({ type: 'ACKS' })); }); }) },
}).createMachine({ context: { n: 0 }, initial: 'run', states: { run: { invoke: { id: 'port', src: 'port' }, initial: 'w', states: {
  w: { entry: sendTo('port', ({ context }) => ({ type: 'write', n: context.n })), on: { WRITTEN: { target: 'f', actions: assign({ n: ({ event }: any) => event.n }) } } },
  f: { entry: sendTo('port', { type: 'await' }), on: { ACKS: [{ guard: ({ context }) => context.n < N, target: 'w' }, { target: '#d' }] } } } }, d: { id: 'd', type: 'final' } } });
async function run(mm: any) { const a = createActor(bind(mm, { cvqPort: { writeBatch: () => ({ written: 1 }), awaitAcks: async () => ({ acks }) } }), { input: { strategy: 'serial', commands: cmds, ackTimeoutMs: 1000 } }); const p = toPromise(a); a.start(); const t0 = performance.now(); a.send({ type: 'FLUSH' }); await p; return (performance.now() - t0) * 1000 / N; }
async function runMin() { const a = createActor(m); const p = toPromise(a); const t0 = performance.now(); a.start(); await p; return (performance.now() - t0) * 1000 / N; }
for (let r = 0; r < 5; r++) console.log('minimal', (await runMin()).toFixed(1), 'current', (await run(A)).toFixed(1), 'no-after', (await run(B)).toFixed(1));
