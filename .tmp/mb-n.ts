import { createActor, toPromise } from 'xstate';
import { bind } from '../machines/contract.js';
import { cvqCommandMachine } from '../machines/cvq-command.js';
const acks = [{ len: 1, ack: 0 }];
for (const N of [1000, 4000, 16000, 1000, 4000, 16000]) {
  const cmds = Array.from({ length: N }, (_, i) => ({ name: 'x' + i, class: 4, cmd: 0, payload: '0100' }));
  const a = createActor(bind(cvqCommandMachine, { cvqPort: { writeBatch: () => ({ written: 1 }), awaitAcks: async () => ({ acks }) } }), { input: { strategy: 'serial', commands: cmds, ackTimeoutMs: 1000 } });
  const p = toPromise(a); a.start(); const t0 = performance.now(); a.send({ type: 'FLUSH' }); await p;
  console.log(N, ((performance.now() - t0) * 1000 / N).toFixed(1), 'us/round trip');
}
