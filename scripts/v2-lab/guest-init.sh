#!/bin/bash
# PID 1 of the v2 lab VM (after the initramfs' switch_root): the mounts a systemd host would have,
# cgroup2 alone at /sys/fs/cgroup, then run.sh; the VM powers off whatever happens.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue 2>/dev/null
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
mkdir -p /run/lock /var/run
mount -t tmpfs -o nosuid,nodev tmpfs /tmp
# cgroup2 as systemd mounts it (nsdelegate: cgroup namespaces are delegation boundaries).
mount -t cgroup2 -o nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mountpoint -q /sys/kernel/security || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -o remount,rw / 2>/dev/null
# The data disk (when attached): the VM dockerd's /var/lib/docker, holding the DinD image's base
# layers already (see v2-lab.sh; qemu snapshot=on discards what a run writes).
if [ -b /dev/vdc ]; then
    mkdir -p /var/lib/docker
    mount -t ext4 /dev/vdc /var/lib/docker || echo "V2LAB | cannot mount the data disk /dev/vdc"
fi
hostname v2lab
ip link set lo up 2>/dev/null || true
# This shell stays in the root cgroup, which is exempt from "no internal processes".
bash /lab/lab/run.sh </dev/null
echo "V2LAB END"
sync
echo o >/proc/sysrq-trigger
sleep 30
exit 1   # PID 1 exiting panics the kernel; panic=1 + qemu -no-reboot end the VM as well
