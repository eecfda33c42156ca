#!/bin/sh
# PID 1 of the shadowvq test guest (busybox). Loads the vDPA stack, creates vdpa0 on vdpa_sim_net,
# runs the in-guest suite (/app/suite.mjs) against /dev/vhost-vdpa-0 and powers off.
# Every line meant for the host starts with "SVQ-" (see test/real/protocol.ts).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
up() { cut -d' ' -f1 /proc/uptime; }
echo "SVQ-GUEST boot kernel=$(uname -r) uptime=$(up)"
fail=
for m in vhost_iotlb vdpa irqbypass vhost vhost_vdpa vringh vdpa_sim vdpa_sim_net; do
  insmod /lib/modules/$m.ko || { echo "SVQ-HARNESS-ERROR insmod $m failed"; fail=1; }
done
MAC=$(cat /app/mac 2>/dev/null || echo 00:11:22:33:44:55)
if [ -z "$fail" ]; then
  vdpa dev add name vdpa0 mgmtdev vdpasim_net mac "$MAC" || { echo "SVQ-HARNESS-ERROR vdpa dev add failed"; fail=1; }
fi
# The kernel-driver stack for VDUSE, after vdpa0 is bound to vhost_vdpa (virtio_vdpa would compete for
# new vdpa devices); the kernel-driver tests turn vdpa autoprobe off before they add their VDUSE device.
if [ -z "$fail" ]; then
  for m in failover net_failover virtio_net virtio_vdpa vduse; do
    insmod /lib/modules/$m.ko || echo "SVQ-HARNESS-ERROR insmod $m failed"
  done
fi
echo "SVQ-GUEST modules+vdpa0 ready uptime=$(up)"
if [ -z "$fail" ]; then
  set --
  [ -s /app/filter ] && set -- --filter-file /app/filter
  cd /app && node /app/suite.mjs --device vdpa:/dev/vhost-vdpa-0 --mac "$MAC" "$@"
  echo "SVQ-GUEST node exit=$? uptime=$(up)"
fi
dmesg | grep -iE 'vdpa|vhost|vring|vduse|virtio_net|BUG|WARN|Oops' | tail -20 | sed 's/^/SVQ-DMESG /'
echo "SVQ-GUEST poweroff uptime=$(up)"
poweroff -f
