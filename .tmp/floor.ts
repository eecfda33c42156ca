import { createActor, setup, assign, sendTo, fromCallback } from 'xstate';
const N = 100000;
const m1 = setup({}).createMachine({ context: { n: 0 }, initial: 'a', states: { a: { on: { X: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } } });
const m2 = setup({}).createMachine({ context: { n: 0 }, initial: 'a', states: { a: { on: { X: { target: 'b', actions: assign({ n: ({ context }) => context.n + 1 }) } } }, b: { on: { X: { target: 'a' } } } } });
const m3 = setup({}).createMachine({ context: { n: 0 }, initial: 'f', states: { f: { initial: 'a', states: { a: { on: { X: { target: 'b', actions: assign({ n: ({ context }) => context.n + 1 }) } } }, b: { on: { X: { target: 'a' } } } } } } });
for (let r = 0; r < 3; r++) for (const [name, m] of [['targetless', m1], ['flat a<->b', m2], ['nested a<->b', m3]] as const) {
  const a = createActor(m as any); a.start(); const t0 = performance.now(); for (let i = 0; i < N; i++) a.send({ type: 'X' }); console.log(name, ((performance.now() - t0) * 1000 / N).toFixed(2), 'us/event');
}
