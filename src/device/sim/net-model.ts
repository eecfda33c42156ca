/**
 * How the simulated device answers CVQ commands: the bytes of one command in, an ack out, and the
 * device's `NetDeviceState` kept current.
 *
 * - `ModelCvq` (profile `full`): decode with `decodeCommand` (virtio 1.2 §5.1.6.5) and apply with the
 *   pure reducer `applyCommand`, plus the class module's `sim` rule (src/cvq/classes: ANNOUNCE_ACK
 *   needs a pending announcement, MAC_ADDR_SET lands in config space); a decode error or a refusal acks
 *   VIRTIO_NET_ERR and leaves the state unchanged, as QEMU's virtio_net_handle_ctrl does.
 * - `VdpaSimNetCvq` (profile `vdpa_sim_net`): Linux 6.12's `vdpasim_handle_cvq` /
 *   `vdpasim_handle_ctrl_mac`: only MAC_ADDR_SET acks OK (pulling 6 bytes into config space; a shorter
 *   payload still overwrites the bytes it has and acks ERR), any other MAC command acks ERR, and any
 *   other class leaves `status` untouched — ERR for the first command of a kick, but the previous
 *   command's ack when `staleAck` reproduces the kernel's bug (status is not reset between commands).
 */
import { produce } from 'immer';
import * as E from 'fp-ts/lib/Either.js';
import { CLASS_OF_KIND } from '../../cvq/classes/index.js';
import { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET } from '../../cvq/classes/mac.js';
import type { SimCvqDevice } from '../../cvq/classes/types.js';
import { applyCommand } from '../../state/apply.js';
import { resetNetState, type DeviceLimits, type NetDeviceState } from '../../state/net-state.js';
import { decodeCommand } from '../../virtio/cvq.js';
import { ETH_ALEN, VIRTIO_NET_ERR, VIRTIO_NET_OK, formatMac, macBytes, type MacString } from '../../virtio/net.js';

/** Why the last command got the ack it got (for the device's command log). */
export interface CvqOutcome {
  readonly ack: number;
  readonly reason: string;
}

export interface CvqModel extends SimCvqDevice {
  /** Start of one kick's processing pass (vdpasim's `status` lives for one pass). */
  beginPass(): void;
  /** Handle one command's device-readable bytes (header + payload). */
  handle(bytes: Uint8Array, negotiated: bigint): CvqOutcome;
  /** The current device state. */
  state(): NetDeviceState;
  /** Device reset or FEATURES_OK: start over from the reset state with `mac` (no announcement pending). */
  reset(mac: MacString, negotiated: bigint): void;
}

export class ModelCvq implements CvqModel {
  private current: NetDeviceState;
  readonly configMac = new Uint8Array(ETH_ALEN);
  announcePending = false;

  constructor(
    mac: MacString,
    private readonly limits: DeviceLimits,
  ) {
    this.current = resetNetState(mac);
    this.syncMac();
  }

  beginPass(): void {}

  handle(bytes: Uint8Array, negotiated: bigint): CvqOutcome {
    const cmd = decodeCommand([bytes]);
    if (E.isLeft(cmd)) return { ack: VIRTIO_NET_ERR, reason: cmd.left.message };
    const rule = CLASS_OF_KIND[cmd.right.kind].sim;
    const refused = rule?.refuse?.(cmd.right, this);
    if (refused !== undefined) return { ack: VIRTIO_NET_ERR, reason: refused };
    const next = applyCommand(this.current, negotiated, this.limits, cmd.right);
    if (E.isLeft(next)) return { ack: VIRTIO_NET_ERR, reason: next.left.message };
    this.current = next.right;
    rule?.applied?.(cmd.right, this, this.current);
    return { ack: VIRTIO_NET_OK, reason: 'applied' };
  }

  state(): NetDeviceState {
    return this.current;
  }

  reset(mac: MacString, negotiated: bigint): void {
    this.current = resetNetState(mac, negotiated);
    this.announcePending = false;
    this.syncMac();
  }

  private syncMac(): void {
    this.configMac.set(macBytes(this.current.mac));
  }
}

export class VdpaSimNetCvq implements CvqModel {
  readonly configMac = new Uint8Array(ETH_ALEN);
  /** vdpa_sim_net offers no GUEST_ANNOUNCE: never set. */
  announcePending = false;
  private current: NetDeviceState;
  /** vdpasim_handle_cvq's `status`: initialised to ERR once per pass. */
  private status = VIRTIO_NET_ERR;

  constructor(
    mac: MacString,
    private readonly staleAck: boolean,
  ) {
    this.current = resetNetState(mac);
    this.configMac.set(macBytes(mac));
  }

  beginPass(): void {
    this.status = VIRTIO_NET_ERR;
  }

  handle(bytes: Uint8Array, _negotiated: bigint): CvqOutcome {
    const cls = bytes[0]!;
    const cmd = bytes[1]!;
    if (cls === VIRTIO_NET_CTRL_MAC) {
      // vdpasim_handle_ctrl_mac: a fresh ERR, OK only for a full 6-byte MAC_ADDR_SET pull.
      let st = VIRTIO_NET_ERR;
      if (cmd === VIRTIO_NET_CTRL_MAC_ADDR_SET) {
        const n = Math.min(ETH_ALEN, bytes.length - 2);
        for (let i = 0; i < n; i++) this.configMac[i] = bytes[2 + i]!;
        if (n > 0) this.current = produce(this.current, (d) => void (d.mac = formatMac(this.configMac)));
        if (n === ETH_ALEN) st = VIRTIO_NET_OK;
      }
      this.status = st;
      return { ack: st, reason: st === VIRTIO_NET_OK ? 'MAC_ADDR_SET applied' : 'vdpa_sim_net: MAC command refused' };
    }
    // Any other class: `status` is left as it was (the kernel bug when staleAck; ERR otherwise).
    if (!this.staleAck) this.status = VIRTIO_NET_ERR;
    return { ack: this.status, reason: this.status === VIRTIO_NET_OK ? 'vdpa_sim_net stale ack (not applied)' : 'vdpa_sim_net: class not supported' };
  }

  state(): NetDeviceState {
    return this.current;
  }

  /** The MAC in config space survives a reset on vdpa_sim_net (observed); `mac` is ignored. */
  reset(_mac: MacString, negotiated: bigint): void {
    this.current = resetNetState(formatMac(this.configMac), negotiated);
    this.status = VIRTIO_NET_ERR;
  }
}
