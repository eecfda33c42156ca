/**
 * The contract of one CVQ command class (virtio 1.2 §5.1.6.5): everything the project knows about
 * the class lives in the module that implements it — the command numbers and payload codec, the
 * features that enable them, the device's rule (the reducer), the restore-plan step, the view through
 * the negotiated features, the benchmark's maximal values, the JSON fields of the state file, the fuzz
 * arbitraries and what the simulated device adds to the reducer. The rest of the code iterates the
 * registry (`./index.ts`).
 *
 * Layering: a class module imports only src/virtio/{net,features}, the state's shape
 * (src/state/net-state.ts) and this folder; fast-check appears as types only (the arbitraries get
 * fast-check handed in, so the product does not load it), io-ts codecs come from json.ts's kit.
 */
import * as E from 'fp-ts/lib/Either.js';
import type fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type * as t from 'io-ts';
import type { FeatureName } from '../../virtio/features.js';
import type { DeviceLimits, NetDeviceState } from '../../state/net-state.js';
import type { BodyFail, WireReader } from './wire.js';

/** Every command is `{ kind, …fields }`; the kind names the (class, command) pair. */
export interface CommandBase {
  readonly kind: string;
}

/** One command of a class: its code within the class and the feature that enables it (besides CTRL_VQ). */
export interface CommandInfo {
  readonly code: number;
  readonly feature: FeatureName;
}

export type RefusalReason =
  | 'not-negotiated' // the command's feature (or CTRL_VQ) is not negotiated
  | 'queue-pairs' // virtqueue pairs / max_tx_vq outside 1..max_virtqueue_pairs
  | 'rss-table' // indirection table length not a power of two within the maximum
  | 'rss-queue' // a table entry or the unclassified queue ≥ the queue pairs
  | 'key-size' // hash key longer than rss_max_key_size
  | 'hash-types' // hash types outside supported_hash_types
  | 'vlan-id' // vid ≥ 4096
  | 'offloads'; // an offload whose feature is not negotiated

/** The device acks VIRTIO_NET_ERR and keeps its state. */
export interface CommandRefused<K extends string = string> {
  readonly _tag: 'CommandRefused';
  readonly kind: K;
  readonly reason: RefusalReason;
  readonly message: string;
}

export type Applied = E.Either<CommandRefused, NetDeviceState>;

export type Has = (f: FeatureName) => boolean;

export interface PlanContext {
  readonly has: Has;
  readonly negotiated: bigint;
}

export interface ViewContext extends PlanContext {
  /** The destination's reset state (what a field reads as when nothing restores it). */
  readonly reset: NetDeviceState;
}

/** Some fields of a state. */
export type StateSlice = Partial<{ -readonly [K in keyof NetDeviceState]: NetDeviceState[K] }>;

/** Where the plan step puts its commands (the plan's one array). */
export interface Sink<C> {
  push(cmd: C): unknown;
}

/** The io-ts codecs of state/json.ts, handed to each class for its JSON fields. */
export interface JsonKit {
  readonly intIn: (name: string, min: number, max: number) => t.Type<number, number, unknown>;
  readonly u32: t.Type<number, number, unknown>;
  readonly hashTypes: t.Type<number, number, unknown>;
  readonly macString: t.Type<string, string, unknown>;
  readonly keyHex: t.Type<string, string, unknown>;
  readonly offloadsHex: t.Type<bigint, string, unknown>;
  readonly arrayOf: <A>(item: t.Type<A, unknown, unknown>, name: string) => t.Type<A[], unknown[], unknown>;
  readonly nullable: <A, O>(codec: t.Type<A, O, unknown>) => t.Type<A | null, O | null, unknown>;
  readonly closed: <P extends t.Props>(props: P, name: string) => t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown>;
}

export interface JsonIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * A class's fields of the state file. `fields` names, per JSON key, the state field it holds: the
 * document lists its keys in the state's field order (see `NET_STATE_FIELDS`).
 */
export interface ClassJson<P extends t.Props> {
  readonly props: P;
  readonly fields: { readonly [K in keyof P]: keyof NetDeviceState };
  toState(v: t.TypeOf<t.TypeC<P>>): StateSlice;
  fromState(s: NetDeviceState): t.OutputOf<t.TypeC<P>>;
  /** What any reachable state satisfies beyond the types (`doc` is the whole decoded document). */
  check?(v: t.TypeOf<t.TypeC<P>>, doc: Readonly<Record<string, unknown>>): JsonIssue[];
}

/** The arbitraries' shared pieces, built on the fast-check the caller hands in. */
export interface ArbKit {
  readonly fc: typeof fc;
  readonly mac: Arbitrary<string>;
  readonly u16: Arbitrary<number>;
  readonly u32: Arbitrary<number>;
  readonly u64: Arbitrary<bigint>;
  /** Coalescing-like values: zero, small, or over the whole le32. */
  readonly small: Arbitrary<number>;
  /** A key of up to `max` bytes. */
  readonly key: (max: number) => Arbitrary<Uint8Array>;
  /** A random subset of the set bits of `mask`. */
  readonly subsetOf: (mask: bigint) => Arbitrary<bigint>;
}

export interface StateArbContext {
  readonly limits: DeviceLimits;
  /** The state's queue pairs (chosen first: RSS queues depend on it). */
  readonly queuePairs: number;
}

/** What the simulated device keeps beyond `NetDeviceState` that a class's answer depends on. */
export interface SimCvqDevice {
  /** VIRTIO_NET_S_ANNOUNCE is set in config status (§5.1.6.5.4). */
  announcePending: boolean;
  /** The MAC config space shows (6 bytes, live). */
  readonly configMac: Uint8Array;
}

/** The simulator's behaviour for a class beyond the reducer (profile `full`, QEMU's virtio-net). */
export interface SimRule<C> {
  /** A refusal from device state the reducer does not hold, checked before the reducer. */
  refuse?(cmd: C, dev: SimCvqDevice): string | undefined;
  /** After the command applied (acked OK). */
  applied?(cmd: C, dev: SimCvqDevice, state: NetDeviceState): void;
}

export interface CvqClass<C extends CommandBase, P extends t.Props = t.Props> {
  /** VIRTIO_NET_CTRL_<name>, or the spec section's short name when a class has two rooms (MQ / RSS). */
  readonly name: string;
  /** The class number on the wire (u8 class of `virtio_net_ctrl_hdr`). */
  readonly cls: number;
  /** Spec section. */
  readonly section: string;
  readonly commands: { readonly [K in C['kind']]: CommandInfo };

  // codec: the command-specific data after the 2-byte header, little-endian, byte-exact
  payloadLength(cmd: C): number;
  /** Write the payload at `o` (room checked by the caller); returns the offset after it. */
  encode(cmd: C, buf: Uint8Array, o: number): number;
  decode(r: WireReader, kind: C['kind']): C | BodyFail;
  describe(cmd: C): string;

  /** The device's rule (CTRL_VQ and the command's feature are checked before). */
  apply(state: NetDeviceState, cmd: C, negotiated: bigint, limits: DeviceLimits): Applied;
  /** The restore-plan step: the commands that bring a reset device to this class's part of `state`. */
  plan(state: NetDeviceState, ctx: PlanContext, out: Sink<C>): void;
  /** The fields this class restores, as the plan step leaves them (only called with CTRL_VQ). */
  view(state: NetDeviceState, ctx: ViewContext): StateSlice;
  /** The benchmark's maximal values (state/maximal.ts), fresh on each call. */
  maximal(): StateSlice;
  json(k: JsonKit): ClassJson<P>;
  /** Commands over their whole encoding range, one arbitrary per command shape. */
  arbitraries(k: ArbKit): readonly Arbitrary<C>[];
  /** This class's fields of a state that fits the limits. */
  arbitraryState(k: ArbKit, ctx: StateArbContext): Arbitrary<StateSlice>;
  readonly sim?: SimRule<C> | undefined;
}

/** The command type of a class module. */
export type CommandOf<X> = X extends CvqClass<infer C, infer _P> ? C : never;

/**
 * Declare a class module: `defineClass<Cmd>()({ … })` checks it against the contract with the command
 * type named and the JSON fields' types inferred (so the state file's type follows the registry).
 */
export const defineClass =
  <C extends CommandBase>() =>
  <P extends t.Props>(def: CvqClass<C, P>): CvqClass<C, P> => ({
    // one property order for every class: the codec and the reducer dispatch through one object shape
    name: def.name,
    cls: def.cls,
    section: def.section,
    commands: def.commands,
    payloadLength: def.payloadLength,
    encode: def.encode,
    decode: def.decode,
    describe: def.describe,
    apply: def.apply,
    plan: def.plan,
    view: def.view,
    maximal: def.maximal,
    json: def.json,
    arbitraries: def.arbitraries,
    arbitraryState: def.arbitraryState,
    sim: def.sim,
  });

/** A refusal of `kind` (the message prefixed with the kind, as the device log shows it). */
export const refuse = (kind: string, reason: RefusalReason, message: string): Applied =>
  E.left({ _tag: 'CommandRefused', kind, reason, message: `${kind}: ${message}` });
