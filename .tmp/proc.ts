import { migrate } from '../test/migrate/helpers.js';
const r = await migrate({ controllerProcess: true, framesBefore: 300, framesAfter: 300, ramBytes: 4 << 20, onTransition: (t) => { if (t.machine === 'migration' && t.from !== t.to) console.log(t.end, t.from, '->', t.to); } });
console.log(r.summary.outcome, r.summary.error, r.summary.verdict, r.summary.traffic.lost);
