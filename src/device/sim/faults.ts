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
  private iotlbUpdates = 0;
  private readonly chainsSeen = new Map<number, number>();

  /** False for an empty plan: the hot paths skip every lookup. */
  readonly active: boolean;

  constructor(readonly plan: FaultPlan) {
    this.hits = plan.map(() => 0);
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
    const t = this.plan[i]!.times;
    return t === undefined || this.hits[i]! < t;
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

export interface FaultParseError {
  readonly _tag: 'FaultParseError';
  readonly input: string;
  readonly message: string;
}

const parseError = (input: string, message: string): E.Either<FaultParseError, Fault> => E.left({ _tag: 'FaultParseError', input, message });

/**
 * Parse the CLI form of a fault (`--fault SPEC`):
 * `nack:VLAN_ADD[,MQ_RSS_CONFIG…]` or `nack:class=VLAN`, `delay-ack:<us>[:COMMANDS]`,
 * `no-answer[:COMMANDS]`, `wrong-used-len:<len>[:COMMANDS]`, `bad-used-id[:<id>][:COMMANDS]`,
 * `suspend-fails`, `resume-fails`, `iotlb-map-fails[:<asid>]`, `needs-reset[:COMMANDS]`.
 */
export function parseFault(spec: string): E.Either<FaultParseError, Fault> {
  const parts = spec.trim().split(':');
  const kind = parts[0]!.toLowerCase();
  const matchOf = (s: string | undefined): E.Either<string, CommandMatch | undefined> => {
    if (s === undefined || s === '') return E.right(undefined);
    if (s.toLowerCase().startsWith('class=')) {
      const classes = s.slice(6).split(',');
      const bad = classes.find((c) => cvqClassByName(c) === undefined);
      return bad === undefined ? E.right({ classes }) : E.left(`unknown CVQ class "${bad}" (one of ${CVQ_CLASS_NAMES.join(', ')})`);
    }
    const commands = s.split(',');
    const bad = commands.find((c) => cvqCommandByName(c) === undefined);
    return bad === undefined ? E.right({ commands }) : E.left(`unknown CVQ command "${bad}"`);
  };
  const num = (s: string | undefined, what: string): E.Either<string, number> =>
    s !== undefined && /^\d+$/.test(s) ? E.right(Number(s)) : E.left(`${what} must be a non-negative integer`);
  const withMatch = (s: string | undefined, f: (m: CommandMatch | undefined) => Fault): E.Either<FaultParseError, Fault> => {
    const m = matchOf(s);
    return E.isLeft(m) ? parseError(spec, m.left) : E.right(f(m.right));
  };
  switch (kind) {
    case 'nack':
      if (parts.length !== 2 || parts[1] === '') return parseError(spec, 'nack needs the commands: nack:VLAN_ADD or nack:class=VLAN');
      return withMatch(parts[1], (match) => ({ kind: 'nack', ...(match ? { match } : {}) }));
    case 'delay-ack': {
      const us = num(parts[1], 'delay-ack:<us>');
      if (E.isLeft(us)) return parseError(spec, us.left);
      return withMatch(parts[2], (match) => ({ kind: 'delay-ack', us: us.right, ...(match ? { match } : {}) }));
    }
    case 'no-answer':
      return withMatch(parts[1], (match) => ({ kind: 'no-answer', ...(match ? { match } : {}) }));
    case 'wrong-used-len': {
      const len = num(parts[1], 'wrong-used-len:<len>');
      if (E.isLeft(len)) return parseError(spec, len.left);
      return withMatch(parts[2], (match) => ({ kind: 'wrong-used-len', len: len.right, ...(match ? { match } : {}) }));
    }
    case 'bad-used-id': {
      if (parts[1] !== undefined && /^\d+$/.test(parts[1])) {
        const id = Number(parts[1]);
        return withMatch(parts[2], (match) => ({ kind: 'bad-used-id', id, ...(match ? { match } : {}) }));
      }
      return withMatch(parts[1], (match) => ({ kind: 'bad-used-id', ...(match ? { match } : {}) }));
    }
    case 'suspend-fails':
    case 'resume-fails':
      return parts.length === 1 ? E.right({ kind }) : parseError(spec, `${kind} takes no argument`);
    case 'iotlb-map-fails': {
      if (parts[1] === undefined) return E.right({ kind: 'iotlb-map-fails' });
      const asid = num(parts[1], 'iotlb-map-fails:<asid>');
      return E.isLeft(asid) ? parseError(spec, asid.left) : E.right({ kind: 'iotlb-map-fails', asid: asid.right });
    }
    case 'needs-reset':
      return withMatch(parts[1], (match) => ({ kind: 'needs-reset', ...(match ? { match } : {}) }));
    default:
      return parseError(spec, `unknown fault "${parts[0]}" (nack, delay-ack, no-answer, wrong-used-len, bad-used-id, suspend-fails, resume-fails, iotlb-map-fails, needs-reset)`);
  }
}
