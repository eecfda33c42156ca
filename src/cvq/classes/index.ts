/**
 * The registry of CVQ command classes (virtio 1.2 §5.1.6.5). Its order is the restore order — QEMU's
 * `vhost_vdpa_net_cvq_load`: mac, mq (→ rss), offloads, rx, vlan — then notification coalescing,
 * which QEMU does not restore, and announce, which has nothing to restore. Adding a class: write its
 * module (see ./types.ts for what it holds) and put it here; the codec, the reducer, the view, the
 * planner, the state file, the benchmark state, the fuzz arbitraries and the simulator find it here.
 */
import type * as t from 'io-ts';
import { announce } from './announce.js';
import { mac } from './mac.js';
import { mq } from './mq.js';
import { notfCoal } from './notf-coal.js';
import { offloads } from './offloads.js';
import { rss } from './rss.js';
import { rx } from './rx.js';
import { vlan } from './vlan.js';
import type { CommandInfo, CommandOf, CvqClass } from './types.js';

export const CVQ_CLASSES = [mac, mq, rss, offloads, rx, vlan, notfCoal, announce] as const;

export type CvqClassModule = (typeof CVQ_CLASSES)[number];

/** Every command the registry's classes define. */
export type NetCtrlCommand = CommandOf<CvqClassModule>;
export type CommandKind = NetCtrlCommand['kind'];

/** A class seen through the whole command union (what the generic code dispatches to). */
export type AnyCvqClass = Omit<CvqClass<NetCtrlCommand, t.Props>, 'commands'> & { readonly commands: Readonly<Record<string, CommandInfo>> };

/**
 * The registry, typed for dispatch: each class takes only its own commands, which the dispatcher
 * guarantees by looking the class up from the command's kind; seen through the whole union here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one place the per-class command types meet
const dispatchable = (classes: readonly CvqClass<any, any>[]): readonly AnyCvqClass[] => classes;
export const CLASSES: readonly AnyCvqClass[] = dispatchable(CVQ_CLASSES);

export interface KindInfo extends CommandInfo {
  readonly kind: CommandKind;
  readonly cls: number;
  readonly klass: AnyCvqClass;
}

/** Every kind with its class number, command code, feature and class module, in registry order. */
export const KINDS: readonly KindInfo[] = CLASSES.flatMap((klass) =>
  Object.entries(klass.commands).map(([kind, info]) => ({ kind: kind as CommandKind, cls: klass.cls, code: info.code, feature: info.feature, klass })),
);

/** The class module of each kind. */
export const CLASS_OF_KIND = Object.fromEntries(KINDS.map((k) => [k.kind, k.klass])) as { readonly [K in CommandKind]: AnyCvqClass };

/** Each kind's entry, by kind (one lookup for the codec's hot path). */
export const KIND_INFO = Object.fromEntries(KINDS.map((k) => [k.kind, k])) as { readonly [K in CommandKind]: KindInfo };

/** Each kind's entry by `class << 8 | command`. */
export const KIND_BY_CODE: ReadonlyMap<number, KindInfo> = new Map(KINDS.map((k) => [(k.cls << 8) | k.code, k]));

export { announce, mac, mq, notfCoal, offloads, rss, rx, vlan };
export type { CvqClass } from './types.js';
