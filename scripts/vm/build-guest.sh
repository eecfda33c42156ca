#!/usr/bin/env bash
# Build (or reuse from the cache) everything the test guest needs except the project's own code:
#   - host tools from Debian (qemu-system-x86, busybox-static, cpio, gcc-12, make, xz, zstd, libelf1, iproute2)
#   - Debian's linux 6.12 kernel (bookworm-security) and, built out of tree from linux-source-6.12,
#     vringh.ko / vdpa_sim.ko / vdpa_sim_net.ko (Debian ships CONFIG_VDPA_SIM and CONFIG_VHOST_RING unset)
#   - the kernel-driver stack for VDUSE from Debian's image: failover, net_failover, virtio_net,
#     virtio_vdpa, vduse (the kernel's virtio-net drives shadowvq's rings through them)
#   - base.cpio: busybox + node (with its shared libraries) + the `vdpa` tool + the modules
#
# Output (on stdout, last line): KERNEL=<vmlinuz path> BASE_CPIO=<path> KVER=<version>
# Progress lines start with "phase:" (the host runner times them).
#
# Env: SHADOWVQ_VM_CACHE (default /var/cache/shadowvq-vm), KVER (e.g. 6.12.27+deb12), SKIP_APT=1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SHADOWVQ_VM_CACHE:-/var/cache/shadowvq-vm}
mkdir -p "$CACHE/debs"
cd "$CACHE"
phase() { echo "phase: $*" >&2; }

TOOLS=(qemu-system-x86 busybox-static cpio gcc-12 make xz-utils zstd libelf1 iproute2)
APT_UPDATED=
apt_update_once() {
  [ -n "$APT_UPDATED" ] && return 0
  phase "apt-get update"
  apt-get update -qq >&2
  APT_UPDATED=1
}

missing=()
for p in "${TOOLS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ -n "${SKIP_APT:-}" ] && { echo "missing packages: ${missing[*]} (SKIP_APT set)" >&2; exit 3; }
  apt_update_once
  phase "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Kernel version: pinned by $KVER, else the one already cached, else the newest 6.12 in the apt lists.
if [ -z "${KVER:-}" ] && [ -e current-kver ]; then KVER=$(cat current-kver); fi
if [ -z "${KVER:-}" ]; then
  apt_update_once
  KVER=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' \
    | awk '{print $1}' | sed 's/^linux-image-//; s/-amd64-unsigned$//' | sort -V | tail -1)
  [ -n "$KVER" ] || { echo "no linux-image-6.12.*+deb12-amd64-unsigned in the apt lists (bookworm-security?)" >&2; exit 3; }
fi
K=$CACHE/kernel-$KVER
# The module set: a cached kernel directory built for another set is rebuilt (the cache key).
IMAGE_MODULES="vhost_iotlb vdpa irqbypass vhost vhost_vdpa failover net_failover virtio_net virtio_vdpa vduse"
MODSET="v2 oot:vringh,vdpa_sim,vdpa_sim_net image:${IMAGE_MODULES// /,}"

if [ "$(cat "$K/.modules-done" 2>/dev/null)" != "$MODSET" ]; then
  if [ ! -e "debs/.done-$KVER" ]; then
    apt_update_once
    PKGVER=$(apt-cache show "linux-image-$KVER-amd64-unsigned" | awk '/^Version:/{print $2; exit}')
    [ -n "$PKGVER" ] || { echo "linux-image-$KVER-amd64-unsigned not in the apt lists" >&2; exit 3; }
    phase "apt-get download linux $KVER ($PKGVER): image, headers, kbuild, source"
    (cd debs && apt-get download -q "linux-image-$KVER-amd64-unsigned" "linux-headers-$KVER-amd64" \
      "linux-headers-$KVER-common" "linux-kbuild-$KVER" "linux-source-6.12=$PKGVER" 2>&1 \
      | grep -v 'Download is performed unsandboxed' >&2 || true)
    echo "$PKGVER" >"debs/.done-$KVER"
  fi
  PKGVER=$(cat "debs/.done-$KVER")
  phase "extract kernel, headers and the vdpa_sim / vringh sources"
  rm -rf "$K"; mkdir -p "$K"/{img,hdr,src,oot,modules}
  dpkg-deb -x debs/linux-image-"$KVER"-amd64-unsigned_*.deb "$K/img"
  for d in debs/linux-headers-"$KVER"-amd64_*.deb debs/linux-headers-"$KVER"-common_*.deb debs/linux-kbuild-"$KVER"_*.deb; do
    dpkg-deb -x "$d" "$K/hdr"
  done
  # the headers' Makefile names /usr/src/... absolutely: point it at the extracted copy
  sed -i "s#/usr/src/#$K/hdr/usr/src/#" "$K/hdr/usr/src/linux-headers-$KVER-amd64/Makefile"
  dpkg-deb --fsys-tarfile debs/linux-source-6.12_"$PKGVER"_all.deb | tar -xO ./usr/src/linux-source-6.12.tar.xz \
    | tar -xJ -C "$K/src" --wildcards 'linux-source-6.12/drivers/vdpa/vdpa_sim/*' 'linux-source-6.12/drivers/vhost/vringh.c'

  phase "build vringh.ko vdpa_sim.ko vdpa_sim_net.ko out of tree (gcc-12)"
  S=$K/src/linux-source-6.12
  cp "$S"/drivers/vdpa/vdpa_sim/{vdpa_sim.c,vdpa_sim.h,vdpa_sim_net.c} "$S"/drivers/vhost/vringh.c "$K/oot/"
  echo 'obj-m += vringh.o vdpa_sim.o vdpa_sim_net.o' >"$K/oot/Kbuild"
  # no pahole here: skip module BTF
  make -s -C "$K/hdr/usr/src/linux-headers-$KVER-amd64" M="$K/oot" CC=gcc-12 CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2
  cp "$K"/oot/{vringh,vdpa_sim,vdpa_sim_net}.ko "$K/modules/"
  KM=$(ls -d "$K"/img/lib/modules/*)
  for m in $IMAGE_MODULES; do
    f=$(find "$KM" -name "$m.ko*" | head -1)
    [ -n "$f" ] || { echo "module $m not in the kernel package" >&2; exit 3; }
    case $f in
      *.xz) xz -dc "$f" >"$K/modules/$m.ko" ;;
      *.zst) zstd -dcq "$f" >"$K/modules/$m.ko" ;;
      *) cp "$f" "$K/modules/$m.ko" ;;
    esac
  done
  cp "$K"/img/boot/vmlinuz-"$KVER"-amd64 "$K/vmlinuz"
  # keep the cache small: the image tree and the headers are not needed any more
  rm -rf "$K/img" "$K/hdr" "$K/src" "$K/oot"
  echo "$MODSET" >"$K/.modules-done"
fi
echo "$KVER" >current-kver

# base.cpio: rebuilt when missing or when node / the init script changed.
NODE=$(readlink -f "$(command -v node)")
STAMP="$NODE $(stat -c %Y "$NODE") $(sha256sum "$HERE/guest-init.sh" | cut -c1-16) $(command -v vdpa)"
if [ ! -e "$K/base.cpio" ] || [ "$(cat "$K/base.stamp" 2>/dev/null)" != "$STAMP" ]; then
  phase "base initramfs: busybox, node $(node --version), vdpa, modules"
  R=$K/rootfs; rm -rf "$R"; mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,lib/modules,lib64,proc,sys,dev,tmp,root,app}
  cp "$(command -v busybox)" "$R/bin/busybox"
  for a in sh mount insmod ls cat cut tr poweroff sleep dmesg grep tail uname echo mkdir ip; do ln -s busybox "$R/bin/$a"; done
  copy_with_libs() {
    install -D -m755 "$1" "$R$2"
    ldd "$1" | awk '/=> \//{print $3} /^[[:space:]]*\/lib64/{print $1}' | while read -r l; do
      [ -e "$R$l" ] || install -D -m755 "$(readlink -f "$l")" "$R$l"
    done
  }
  copy_with_libs "$NODE" /usr/bin/node
  copy_with_libs "$(command -v vdpa)" /usr/sbin/vdpa
  cp "$K"/modules/*.ko "$R/lib/modules/"
  install -m755 "$HERE/guest-init.sh" "$R/init"
  (cd "$R" && find . -print0 | cpio --null -o -H newc --quiet) >"$K/base.cpio.tmp"
  mv "$K/base.cpio.tmp" "$K/base.cpio"
  echo "$STAMP" >"$K/base.stamp"
  rm -rf "$R"
fi
echo "KERNEL=$K/vmlinuz BASE_CPIO=$K/base.cpio KVER=$KVER"
