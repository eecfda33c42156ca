import { createActor, toPromise } from 'xstate';
import { bind } from '../machines/contract.js';
import { cvqCommandMachine } from '../machines/cvq-command.js';
const cmds = Array.from({ length: 20000 }, (_, i) => ({ name: 'x' + i, class: 4, cmd: 0, payload: '0100' }));
const acks = [{ len: 1, ack: 0 }];
for (let r = 0; r < 3; r++) {
const a = createActor(bind(cvqCommandMachine, { cvqPort: { writeBatch: () => ({ written: 1 }), awaitAcks: async () => ({ acks }) } }), { input: { strategy: 'serial', commands: cmds, ackTimeoutMs: 1000 } });
const p = toPromise(a); a.start(); const t0 = performance.now(); a.send({ type: 'FLUSH' }); const o = await p;
console.log(o.ok, ((performance.now() - t0) * 1000 / cmds.length).toFixed(1), 'us/round trip (trivial effects)');
}
