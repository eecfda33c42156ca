/**
 * XState's own floor, measured where the machines run (the bench here, test:real on the TCG guest): the
 * per-step cost under any machine's overhead figures.
 */
import { assign, createActor, setup } from 'xstate';

/**
 * XState v5's own floor: one event, one `assign`, a one-state machine, sent in a plain loop — the least
 * a machine can cost per protocol step on this CPU, whatever the machine. µs per event, CPU and wall.
 */
export function xstateFloorUs(n: number): { readonly cpu: number; readonly wall: number } {
  const m = setup({ types: { context: {} as { n: number } } }).createMachine({
    context: { n: 0 },
    initial: 'idle',
    states: { idle: { on: { STEP: { actions: assign(({ context }) => ({ n: context.n + 1 })) } } } },
  });
  const a = createActor(m).start();
  const ev = { type: 'STEP' } as const;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) a.send(ev);
  const wall = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(c0);
  a.stop();
  return { cpu: (c.user + c.system) / n, wall };
}

