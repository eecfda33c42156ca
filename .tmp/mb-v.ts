import { createActor, fromCallback, setup, assign, toPromise, sendTo } from 'xstate';
import { bind } from '../machines/contract.js';
import { cvqCommandMachine } from '../machines/cvq-command.js';
const N = 8000;
const m = setup({
  actors: { port: fromCallback<any>(({ sendBack, receive }) => { receive((e: any) => { if (e.type === 'write') sendBack({ type: 'WRITTEN', n: e.n + 1 }); else Promise.resolve().then(() => sendBack({ type: 'ACKS' })); }); }) },
}).createMachine({
  context: { n: 0 }, initial: 'run',
  states: {
    run: {
      invoke: { id: 'port', src: 'port' },
      initial: 'w',
      states: {
        w: { entry: sendTo('port', ({ context }) => ({ type: 'write', n: context.n })), on: { WRITTEN: { target: 'f', actions: assign({ n: ({ event }: any) => event.n }) } } },
        f: { entry: sendTo('port', { type: 'await' }), on: { ACKS: [{ guard: ({ context }) => context.n < N, target: 'w' }, { target: '#d' }] } },
      },
    },
    d: { id: 'd', type: 'final' },
  },
});
const cmds = Array.from({ length: N }, (_, i) => ({ name: 'x' + i, class: 4, cmd: 0, payload: '0100' }));
const acks = [{ len: 1, ack: 0 }];
let bare = 0;
for (let r = 0; r < 5; r++) {
  let t0 = performance.now();
  for (let i = 0; i < N; i++) { await Promise.resolve(acks); }
  bare = (performance.now() - t0) * 1000 / N;
  let a: any = createActor(m); let p = toPromise(a); t0 = performance.now(); a.start(); await p;
  const t1 = (performance.now() - t0) * 1000 / N;
  a = createActor(bind(cvqCommandMachine, { cvqPort: { writeBatch: () => ({ written: 1 }), awaitAcks: async () => ({ acks }) } }), { input: { strategy: 'serial', commands: cmds, ackTimeoutMs: 1000 } });
  p = toPromise(a); a.start(); t0 = performance.now(); a.send({ type: 'FLUSH' }); await p;
  console.log('bare', bare.toFixed(2), 'minimal', t1.toFixed(1), 'cvq-command', ((performance.now() - t0) * 1000 / N).toFixed(1));
}
