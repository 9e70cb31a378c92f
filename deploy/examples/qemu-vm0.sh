#!/usr/bin/env bash
# qemu-vm0.sh [--print] [QEMU_ARG...] - QEMU on vplumb's plumbing, the
# command line of libvirt-vm0.xml: the NIC an existing tap (vnet-tap's in
# the pod's namespace: run this there with `ip netns exec POD`; or
# `vnetctl tap add tap0 --vnet-hdr --bridge br0` on the host), the disk
# vblkd's vhost-user-blk export (`vblkctl vhost add vm0 SOCK`), guest RAM
# in a shared memfd as vhost-user requires.  --print prints the command
# instead of running it.
# Settings (environment): SOCK (/run/vplumb/vm0.sock), TAP (tap0),
# MAC (02:00:5e:10:00:01: with vnet-tap, the pod veth's MAC from the CNI
# result), MEM (1G), QUEUES (1, the export's vhost-user queues), ACCEL
# (kvm when /dev/kvm opens, else tcg), QEMU (qemu-system-x86_64).
set -euo pipefail
SOCK=${SOCK:-/run/vplumb/vm0.sock}
TAP=${TAP:-tap0}
MAC=${MAC:-02:00:5e:10:00:01}
MEM=${MEM:-1G}
QUEUES=${QUEUES:-1}
QEMU=${QEMU:-qemu-system-x86_64}
print=false
[[ ${1:-} == --print ]] && { print=true; shift; }
accel=${ACCEL:-tcg}
[[ -z ${ACCEL:-} && -r /dev/kvm && -w /dev/kvm ]] && accel=kvm
cmd=("$QEMU" -machine "q35,accel=$accel" -m "$MEM" -smp 2
	-object "memory-backend-memfd,id=mem,size=$MEM,share=on" -numa node,memdev=mem
	-chardev "socket,id=disk0,path=$SOCK,reconnect=1"
	-device "vhost-user-blk-pci,chardev=disk0,num-queues=$QUEUES,bootindex=1"
	-netdev "tap,id=net0,ifname=$TAP,script=no,downscript=no"
	-device "virtio-net-pci,netdev=net0,mac=$MAC"
	-nographic "$@")
if $print; then
	echo "${cmd[*]}"
else
	exec "${cmd[@]}"
fi
