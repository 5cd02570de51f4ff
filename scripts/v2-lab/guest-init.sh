#!/bin/bash
# PID 1 of the v2 lab VM (after the initramfs' switch_root): the mounts a systemd host would have,
# cgroup2 alone at /sys/fs/cgroup, then run.sh; the VM powers off whatever happens.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
mkdir -p /run/lock
mount -t tmpfs -o nosuid,nodev tmpfs /tmp
# cgroup2 as systemd mounts it (nsdelegate: cgroup namespaces are delegation boundaries).
mount -t cgroup2 -o nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot \
    cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
mount -o remount,rw /
# The data disk: the VM dockerd's /var/lib/docker (v2-lab.sh; snapshot=on drops what a run writes).
mkdir -p /var/lib/docker
mount -t ext4 /dev/vdb /var/lib/docker || echo "V2LAB | cannot mount the data disk /dev/vdb"
hostname v2lab
ip link set lo up
# This shell stays in the root cgroup, which is exempt from "no internal processes".
bash /lab/lab/run.sh </dev/null
echo "V2LAB END"
sync
echo o >/proc/sysrq-trigger
sleep 30
exit 1   # PID 1 exiting panics the kernel; panic=1 + qemu -no-reboot end the VM as well
