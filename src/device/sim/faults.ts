/**
 * Fault injection for the simulated device (issue 8's fault list): NACK chosen CVQ commands, delayed
 * acks, never answering, wrong used length, bad used id, failing suspend/resume, IOTLB map failure and
 * DEVICE_NEEDS_RESET. A `FaultPlan` is a list of rules, given at construction or set later; each rule
 * fires at most `times` times (default: every match) and counts its hits.
 */
import * as E from 'fp-ts/lib/Either.js';

/** CVQ class / command names (virtio 1.2 §5.1.6.5; linux/virtio_net.h), as `<CLASS>_<COMMAND>`. */
export const CVQ_CLASS_NAMES: readonly string[] = ['RX', 'MAC', 'VLAN', 'ANNOUNCE', 'MQ', 'GUEST_OFFLOADS', 'NOTF_COAL'];
const CVQ_COMMAND_NAMES: readonly (readonly string[])[] = [
  ['PROMISC', 'ALLMULTI', 'ALLUNI', 'NOMULTI', 'NOUNI', 'NOBCAST'],
  ['TABLE_SET', 'ADDR_SET'],
  ['ADD', 'DEL'],
  ['ACK'],
  ['VQ_PAIRS_SET', 'RSS_CONFIG', 'HASH_CONFIG'],
  ['SET'],
  ['TX_SET', 'RX_SET', 'VQ_SET', 'VQ_GET'],
];

/** "MAC_ADDR_SET", "VLAN_ADD", "MQ_VQ_PAIRS_SET", "NOTF_COAL_TX_SET" …; unknown pairs as "CLASS<c>_CMD<n>". */
export function cvqCommandName(cls: number, cmd: number): string {
  const c = CVQ_CLASS_NAMES[cls];
  const n = CVQ_COMMAND_NAMES[cls]?.[cmd];
  if (c === undefined) return `CLASS${cls}_CMD${cmd}`;
  return n === undefined ? `${c}_CMD${cmd}` : `${c}_${n}`;
}

/** The (class, command) of a name; accepts the prefixed form and the bare command ("VQ_PAIRS_SET"). */
export function cvqCommandByName(name: string): { cls: number; cmd: number } | undefined {
  const want = name.trim().toUpperCase().replace(/^VIRTIO_NET_CTRL_/, '');
  for (let cls = 0; cls < CVQ_COMMAND_NAMES.length; cls++) {
    const cmds = CVQ_COMMAND_NAMES[cls]!;
    for (let cmd = 0; cmd < cmds.length; cmd++) {
      if (want === `${CVQ_CLASS_NAMES[cls]}_${cmds[cmd]}`) return { cls, cmd };
    }
  }
  return undefined;
}

export function cvqClassByName(name: string): number | undefined {
  const i = CVQ_CLASS_NAMES.indexOf(name.trim().toUpperCase().replace(/^VIRTIO_NET_CTRL_/, ''));
  return i < 0 ? undefined : i;
}

/**
 * Which CVQ commands a rule applies to: any of `commands` (names) or `classes` (names or numbers);
 * both empty/absent = every command.
 */
export interface CommandMatch {
  readonly commands?: readonly string[];
  readonly classes?: readonly (string | number)[];
}

interface RuleBase {
  /** Fire at most this many times (default: unlimited). */
  readonly times?: number;
  /** Fire only on the nth match (1-based; CVQ-command rules), once: a fault on the k-th command of its kind. */
  readonly nth?: number;
}

export type Fault =
  /** Ack VIRTIO_NET_ERR without applying the command. */
  | (RuleBase & { readonly kind: 'nack'; readonly match?: CommandMatch })
  /** Apply and ack the command `us` simulated µs later; the CVQ processes nothing else meanwhile. */
  | (RuleBase & { readonly kind: 'delay-ack'; readonly match?: CommandMatch; readonly us: number })
  /** Take the command and never answer it; the CVQ hangs until reset, as a wedged firmware would. */
  | (RuleBase & { readonly kind: 'no-answer'; readonly match?: CommandMatch })
  /** Report `len` as the used length: of matching CVQ commands, or (with `queue`) of every chain of that data queue. */
  | (RuleBase & { readonly kind: 'wrong-used-len'; readonly len: number; readonly queue?: number; readonly match?: CommandMatch })
  /** Report used id `id` (default: the queue size, out of range) instead of the chain's: CVQ commands, or (with `queue`) that data queue. */
  | (RuleBase & { readonly kind: 'bad-used-id'; readonly id?: number; readonly queue?: number; readonly match?: CommandMatch })
  /** VHOST_VDPA_SUSPEND fails (errno, default EIO) and the device keeps running. */
  | (RuleBase & { readonly kind: 'suspend-fails'; readonly errno?: number })
  /** VHOST_VDPA_RESUME fails (errno, default EIO) and the device stays suspended. */
  | (RuleBase & { readonly kind: 'resume-fails'; readonly errno?: number })
  /** An IOTLB update fails (errno, default ENOMEM), optionally only for one ASID / from the n-th update. */
  | (RuleBase & { readonly kind: 'iotlb-map-fails'; readonly asid?: number; readonly after?: number; readonly errno?: number })
  /** The device sets DEVICE_NEEDS_RESET and stops: on a matching CVQ command, or after `afterChains` chains on `queue`. */
  | (RuleBase & { readonly kind: 'needs-reset'; readonly match?: CommandMatch; readonly queue?: number; readonly afterChains?: number });

export type FaultKind = Fault['kind'];
export type FaultPlan = readonly Fault[];

/** A plan being executed: per-rule hit counters. */
export class FaultState {
  readonly hits: number[];
  /** Per rule: matching commands seen (for `nth`). */
  private readonly seen: number[];
  private iotlbUpdates = 0;
  private readonly chainsSeen = new Map<number, number>();

  /** False for an empty plan: the hot paths skip every lookup. */
  readonly active: boolean;

  constructor(readonly plan: FaultPlan) {
    this.hits = plan.map(() => 0);
    this.seen = plan.map(() => 0);
    this.active = plan.length > 0;
  }

  /** The first armed rule of `kind` for a CVQ command (cls, cmd), counting a hit. */
  forCommand<K extends FaultKind>(kind: K, cls: number, cmd: number): Extract<Fault, { kind: K }> | undefined {
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i]!;
      if (f.kind !== kind || !this.armed(i)) continue;
      // rules aimed at a data queue, or counting chains, are not CVQ-command rules
      if ('queue' in f && f.queue !== undefined) continue;
      if (f.kind === 'needs-reset' && f.afterChains !== undefined) continue;
      const m = 'match' in f ? f.match : undefined;
      if (!matches(m, cls, cmd)) continue;
      if (f.nth !== undefined && ++this.seen[i]! !== f.nth) continue;
      this.hits[i]!++;
      return f as Extract<Fault, { kind: K }>;
    }
    return undefined;
  }

  /** A data-queue rule (`wrong-used-len`, `bad-used-id` with `queue: qi`). */
  forQueue<K extends 'wrong-used-len' | 'bad-used-id'>(kind: K, qi: number): Extract<Fault, { kind: K }> | undefined {
    if (!this.active) return undefined;
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i]!;
      if (f.kind !== kind || !this.armed(i) || f.queue !== qi) continue;
      this.hits[i]!++;
      return f as Extract<Fault, { kind: K }>;
    }
    return undefined;
  }

  /** A rule with no match criteria (`suspend-fails`, `resume-fails`). */
  simple<K extends 'suspend-fails' | 'resume-fails'>(kind: K): Extract<Fault, { kind: K }> | undefined {
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i]!;
      if (f.kind !== kind || !this.armed(i)) continue;
      this.hits[i]!++;
      return f as Extract<Fault, { kind: K }>;
    }
    return undefined;
  }

  /** Called on every IOTLB update: the rule that makes it fail, if any. */
  iotlbUpdate(asid: number): Extract<Fault, { kind: 'iotlb-map-fails' }> | undefined {
    const n = ++this.iotlbUpdates;
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i]!;
      if (f.kind !== 'iotlb-map-fails' || !this.armed(i)) continue;
      if (f.asid !== undefined && f.asid !== asid) continue;
      if (f.after !== undefined && n <= f.after) continue;
      this.hits[i]!++;
      return f;
    }
    return undefined;
  }

  /** Count one chain completed on queue `qi`; true when a `needs-reset` rule for it is due. */
  chainDone(qi: number): boolean {
    if (!this.active) return false;
    const n = (this.chainsSeen.get(qi) ?? 0) + 1;
    this.chainsSeen.set(qi, n);
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i]!;
      if (f.kind !== 'needs-reset' || f.afterChains === undefined || !this.armed(i)) continue;
      if (f.queue !== undefined && f.queue !== qi) continue;
      if (n < f.afterChains) continue;
      this.hits[i]!++;
      return true;
    }
    return false;
  }

  private armed(i: number): boolean {
    const f = this.plan[i]!;
    if (f.nth !== undefined) return this.hits[i] === 0;
    const t = f.times;
    return t === undefined || this.hits[i]! < t;
  }

  /** The rules of the plan that never fired, with their index. */
  unfired(): { readonly index: number; readonly fault: Fault }[] {
    return this.plan.flatMap((fault, index) => (this.hits[index] === 0 ? [{ index, fault }] : []));
  }
}

function matches(m: CommandMatch | undefined, cls: number, cmd: number): boolean {
  if (m === undefined) return true;
  const cmds = m.commands ?? [];
  const classes = m.classes ?? [];
  if (cmds.length === 0 && classes.length === 0) return true;
  for (const c of classes) {
    const n = typeof c === 'number' ? c : cvqClassByName(c);
    if (n === cls) return true;
  }
  for (const name of cmds) {
    const p = cvqCommandByName(name);
    if (p !== undefined && p.cls === cls && p.cmd === cmd) return true;
  }
  return false;
}

/** Faults on the CVQ's commands: the destination's (they act on the restore); the rest act on the source. */
export const CVQ_FAULT_KINDS: ReadonlySet<FaultKind> = new Set<FaultKind>(['nack', 'delay-ack', 'no-answer', 'wrong-used-len', 'bad-used-id', 'needs-reset']);

export interface FaultParseError {
  readonly _tag: 'FaultParseError';
  readonly input: string;
  readonly message: string;
}

/** Numeric fields of the fault forms, with their width (the spec's field or the simulator's bound). */
const FIELDS = {
  us: { name: '<us>', max: 0xffffffff, what: 'the delay in simulated µs (u32)' },
  len: { name: '<len>', max: 0xffffffff, what: 'the used length (u32, le32 used.len)' },
  id: { name: '<id>', max: 0xffff, what: 'the used id (u16, a descriptor index)' },
  asid: { name: '<asid>', max: 0xffffffff, what: 'the address space id (u32, vhost asid)' },
  n: { name: '<n>', max: 0xffff, what: 'which matching command (1-based, u16)' },
} as const;
type Field = keyof typeof FIELDS;

/**
 * The CLI forms of `--fault`, one row per form: its syntax, what it does and its parser. `migrate --help`,
 * the docs and the error messages are generated from this table, so they list the same forms.
 * COMMANDS is a comma list of CVQ command names (VLAN_ADD,MQ_RSS_CONFIG …) or `class=VLAN[,MQ]`; any CVQ
 * form takes `@<n>` after COMMANDS to fire only on the n-th matching command (nack:VLAN_ADD@3).
 */
export const FAULT_FORMS: readonly { readonly kind: FaultKind; readonly syntax: string; readonly what: string }[] = [
  { kind: 'nack', syntax: 'nack:COMMANDS[@<n>]', what: 'the device acks VIRTIO_NET_ERR (destination CVQ)' },
  { kind: 'delay-ack', syntax: 'delay-ack:<us>[:COMMANDS[@<n>]]', what: 'the ack comes <us> simulated µs late' },
  { kind: 'no-answer', syntax: 'no-answer[:COMMANDS[@<n>]]', what: 'the device never answers (ETIMEDOUT)' },
  { kind: 'wrong-used-len', syntax: 'wrong-used-len:<len>[:COMMANDS[@<n>]]', what: 'the used length is <len>, not 1' },
  { kind: 'bad-used-id', syntax: 'bad-used-id[:<id>][:COMMANDS[@<n>]]', what: 'the used id is <id> (default: the queue size)' },
  { kind: 'needs-reset', syntax: 'needs-reset[:COMMANDS[@<n>]]', what: 'the device sets DEVICE_NEEDS_RESET and stops' },
  { kind: 'suspend-fails', syntax: 'suspend-fails', what: 'VHOST_VDPA_SUSPEND fails (source)' },
  { kind: 'resume-fails', syntax: 'resume-fails', what: 'VHOST_VDPA_RESUME fails (source)' },
  { kind: 'iotlb-map-fails', syntax: 'iotlb-map-fails[:<asid>]', what: 'an IOTLB update fails with ENOMEM (source)' },
];

/** The forms as one help line each. */
export const faultFormsHelp = (indent = '  '): string => FAULT_FORMS.map((f) => `${indent}${f.syntax.padEnd(40)} ${f.what}`).join('\n');

const show = (s: string): string => {
  const cut = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(cut).replace(/[\u007f-\u009f\u2028-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
};

/**
 * Parse the CLI form of a fault (`--fault SPEC`, the forms of `FAULT_FORMS`), strictly: every field
 * present is used, numbers are plain decimals within their field's width, names are known — anything
 * else is an error naming the field and its range. (Long: one case per fault form, each reading its fields.)
 */
export function parseFault(spec: string): E.Either<FaultParseError, Fault> {
  const fail = (message: string): E.Either<FaultParseError, Fault> => E.left({ _tag: 'FaultParseError', input: spec, message: `--fault ${show(spec)}: ${message}` });
  const parts = spec.trim().split(':');
  const kind = parts[0]!.toLowerCase();
  const form = FAULT_FORMS.find((f) => f.kind === kind);
  if (form === undefined) return fail(`unknown fault ${show(parts[0]!)}; the forms are ${FAULT_FORMS.map((f) => f.syntax).join(', ')}`);
  const usage = `(form: ${form.syntax})`;
  const num = (s: string, field: Field, min = 0): E.Either<string, number> => {
    const f = FIELDS[field];
    if (!/^\d{1,16}$/.test(s)) return E.left(`${f.name} must be a decimal integer in ${min}..${f.max} — ${f.what}; got ${show(s)} ${usage}`);
    const n = Number(s);
    return n >= min && n <= f.max ? E.right(n) : E.left(`${f.name} ${s} is outside ${min}..${f.max} — ${f.what} ${usage}`);
  };
  const isNum = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);
  /** COMMANDS[@n] → match and nth. */
  const matchOf = (s: string): E.Either<string, { match: CommandMatch; nth?: number }> => {
    let body = s;
    let nth: number | undefined;
    const at = s.lastIndexOf('@');
    if (at >= 0) {
      const n = num(s.slice(at + 1), 'n', 1);
      if (E.isLeft(n)) return n;
      nth = n.right;
      body = s.slice(0, at);
    }
    if (body === '') return E.left(`COMMANDS is empty ${usage}`);
    if (body.toLowerCase().startsWith('class=')) {
      const classes = body.slice(6).split(',');
      const bad = classes.find((c) => cvqClassByName(c) === undefined || c.trim() !== c || c === '');
      return bad === undefined ? E.right({ match: { classes }, ...(nth === undefined ? {} : { nth }) }) : E.left(`unknown CVQ class ${show(bad)} (one of ${CVQ_CLASS_NAMES.join(', ')})`);
    }
    const commands = body.split(',');
    const bad = commands.find((c) => cvqCommandByName(c) === undefined || c.trim() !== c);
    return bad === undefined
      ? E.right({ match: { commands }, ...(nth === undefined ? {} : { nth }) })
      : E.left(`unknown CVQ command ${show(bad)} (e.g. MAC_ADDR_SET, VLAN_ADD, MQ_RSS_CONFIG, NOTF_COAL_RX_SET; the names of \`shadowvq plan\`)`);
  };
  /** The rest of the fields after the kind and `numeric` leading numbers: at most one COMMANDS field. */
  const tail = (rest: string[], build: (m: { match?: CommandMatch; nth?: number }) => Fault): E.Either<FaultParseError, Fault> => {
    if (rest.length > 1) return fail(`unexpected field(s) after ${show(rest[0]!)}: ${show(rest.slice(1).join(':'))} ${usage}`);
    if (rest.length === 0) return E.right(build({}));
    const m = matchOf(rest[0]!);
    return E.isLeft(m) ? fail(m.left) : E.right(build(m.right));
  };
  const rest = parts.slice(1);
  switch (form.kind) {
    case 'nack':
      if (rest.length === 0 || rest[0] === '') return fail(`nack needs the commands: nack:VLAN_ADD or nack:class=VLAN ${usage}`);
      return tail(rest, (m) => ({ kind: 'nack', ...m }));
    case 'no-answer':
    case 'needs-reset': {
      const k = form.kind;
      return tail(rest, (m) => ({ kind: k, ...m }));
    }
    case 'delay-ack':
    case 'wrong-used-len': {
      const field: Field = form.kind === 'delay-ack' ? 'us' : 'len';
      if (rest.length === 0) return fail(`${FIELDS[field].name} is missing ${usage}`);
      const n = num(rest[0]!, field);
      if (E.isLeft(n)) return fail(n.left);
      return form.kind === 'delay-ack' ? tail(rest.slice(1), (m) => ({ kind: 'delay-ack', us: n.right, ...m })) : tail(rest.slice(1), (m) => ({ kind: 'wrong-used-len', len: n.right, ...m }));
    }
    case 'bad-used-id': {
      if (rest.length > 0 && (isNum(rest[0]) || /^\d/.test(rest[0]!))) {
        const id = num(rest[0]!, 'id');
        if (E.isLeft(id)) return fail(id.left);
        return tail(rest.slice(1), (m) => ({ kind: 'bad-used-id', id: id.right, ...m }));
      }
      return tail(rest, (m) => ({ kind: 'bad-used-id', ...m }));
    }
    case 'suspend-fails':
    case 'resume-fails': {
      const k = form.kind;
      return rest.length === 0 ? E.right({ kind: k }) : fail(`${k} takes no argument, got ${show(rest.join(':'))} ${usage}`);
    }
    case 'iotlb-map-fails': {
      if (rest.length === 0) return E.right({ kind: 'iotlb-map-fails' });
      if (rest.length > 1) return fail(`unexpected field(s) after ${show(rest[0]!)}: ${show(rest.slice(1).join(':'))} ${usage}`);
      const asid = num(rest[0]!, 'asid');
      return E.isLeft(asid) ? fail(asid.left) : E.right({ kind: 'iotlb-map-fails', asid: asid.right });
    }
  }
}

/** The CLI form of a fault (round-trips through `parseFault` for the forms it has). */
export function formatFault(f: Fault): string {
  const mt = 'match' in f ? f.match : undefined;
  const m = mt === undefined ? '' : (mt.classes ?? []).length > 0 ? `class=${(mt.classes ?? []).join(',')}` : (mt.commands ?? []).join(',');
  const cmds = m === '' ? '' : `${m}${f.nth !== undefined ? `@${f.nth}` : ''}`;
  const join = (...xs: (string | number | undefined)[]): string => xs.filter((x) => x !== undefined && x !== '').join(':');
  switch (f.kind) {
    case 'nack':
    case 'no-answer':
    case 'needs-reset':
      return join(f.kind, cmds);
    case 'delay-ack':
      return join(f.kind, f.us, cmds);
    case 'wrong-used-len':
      return join(f.kind, f.len, cmds);
    case 'bad-used-id':
      return join(f.kind, f.id, cmds);
    case 'iotlb-map-fails':
      return join(f.kind, f.asid);
    default:
      return f.kind;
  }
}
