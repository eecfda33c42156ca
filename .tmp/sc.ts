import { migrate } from '../test/migrate/helpers.js';
import { parseFault } from '../src/device/sim/faults.js';
const f = parseFault('resume-fails'); if (f._tag === 'Left') throw 1;
const r = await migrate({ framesBefore: 300, framesAfter: 300, ramBytes: 4 << 20, maxRounds: 4, cancelAt: 'precopy', faults: [f.right], onTransition: (t) => { if (t.machine !== 'cvq-command') console.log(t.end, t.machine, t.fromState, '->', t.toState, t.event); } });
console.log(r.summary.outcome, r.summary.error);
