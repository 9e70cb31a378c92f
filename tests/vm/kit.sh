# kit.sh - QEMU guest kit for vplumb's tests (source it after
# tests/integration/lib.sh and vp_init; it is not a test).
#
# A test boots a throwaway TCG guest: a Debian cloud kernel (fetched once with
# apt-get download, cached under $VP_BUILD/vm-cache), a busybox initramfs built
# per test around a guest shell script, serial console captured to a file.
#
#   vm_require                         skip (77) unless QEMU, busybox-static... exist
#   vm_kernel                          fetch/unpack the kernel once; sets VM_KERNEL, VM_MODDIR
#   vm_initramfs [--module M]... [--file SRC:DEST]... [--bin SRC:DEST]... SCRIPT OUT
#   vm_start [--netns NS] OUT TIMEOUT QEMU_ARGS...   boot in the background (VM_PID)
#   vm_wait [PID]                      wait for the guest; its QEMU's status (124 = timed out)
#   vm_run OUT TIMEOUT QEMU_ARGS...    vm_start + vm_wait
#   vm_result OUT KEY                  the value the guest reported for KEY
#   vm_wait_result OUT KEY SECONDS     wait until the guest reports KEY
#   vm_assert_result OUT KEY WANT      fail (showing the console) unless KEY = WANT
#   vm_dump OUT                        print the console's tail to stderr
#
# In the guest, the SCRIPT runs under busybox sh (every applet on PATH) after
# the virtio modules are loaded, with two helpers: `vm_say KEY VALUE...`
# prints a result marker line, `vm_arg NAME` prints vmkit.NAME=VALUE from the
# kernel command line.  Its exit status is reported as the result "exit";
# then the guest powers off.  Tests never use KVM: -accel tcg (KVM hangs on
# the CI machines); VM_ACCEL=kvm is for demo/run.sh, which probes it first.
#
# Environment: VM_CACHE (default $VP_BUILD/vm-cache), VM_KERNEL_PKG (default:
# what the linux-image-cloud-amd64 meta-package depends on), VM_MEM (guest
# RAM in MiB, default 256; a memory-backend-memfd for vhost-user must have
# the same size), VM_APPEND (extra kernel command line, e.g. vmkit.ip=...),
# VM_ACCEL (QEMU accelerator, default tcg).

VM_MARK="@@VMKIT@@"
# Loaded in this order by the guest's /init (dependencies first; each
# module's own dependencies, from its modinfo, are added ahead of it).
VM_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	failover net_failover virtio_net virtio_blk)
VM_BUSYBOX=/bin/busybox
VM_QEMU=qemu-system-x86_64
VM_KERNEL=""
VM_MODDIR=""
VM_PID=""

# vm_require: skip unless QEMU, a static busybox, gzip and flock are installed.
vm_require() {
	vp_require_cmd "$VM_QEMU" gzip flock timeout
	[[ -x "$VM_BUSYBOX" ]] || vp_skip "$VM_BUSYBOX missing (apt-get install busybox-static)"
	if ldd "$VM_BUSYBOX" >/dev/null 2>&1; then
		vp_skip "$VM_BUSYBOX is dynamically linked (install busybox-static, not busybox)"
	fi
	# No "| grep -q": under pipefail its early exit would fail the pipeline.
	[[ "$("$VM_BUSYBOX" cpio --help 2>&1)" == *"Create"* ]] ||
		vp_skip "$VM_BUSYBOX cannot create cpio archives"
}

# vm_kernel_pkg: print the kernel package to boot (VM_KERNEL_PKG, else the
# one the cloud meta-package depends on, else one already in the cache).
vm_kernel_pkg() {
	local pkg
	if [[ -n "${VM_KERNEL_PKG:-}" ]]; then
		printf '%s\n' "$VM_KERNEL_PKG"
		return 0
	fi
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ && !n++ {print $2}')
	if [[ -z "$pkg" ]]; then
		pkg=$(find "$1" -mindepth 2 -maxdepth 2 -path '*/linux-image-*/.ready' -printf '%h\n' |
			xargs -r -n1 basename | sort -V | tail -1)
	fi
	[[ -n "$pkg" ]] || return 1
	printf '%s\n' "$pkg"
}

# vm_kernel: make sure the guest kernel and its modules are unpacked in the
# cache (apt-get download + dpkg -x, once, under a lock so parallel tests
# fetch it once); set VM_KERNEL (the bzImage) and VM_MODDIR (its
# lib/modules/<version>).  Skips (77) when apt cannot provide the package.
vm_kernel() {
	local cache="${VM_CACHE:-$VP_BUILD/vm-cache}" pkg dir tmp lockfd
	mkdir -p "$cache" || vp_fail "cannot create the VM cache $cache"
	pkg=$(vm_kernel_pkg "$cache") ||
		vp_skip "no guest kernel: apt-cache knows no linux-image-cloud-amd64 and $cache is empty (set VM_KERNEL_PKG)"
	dir="$cache/$pkg"
	exec {lockfd}>"$cache/.lock"
	flock "$lockfd"
	if [[ ! -f "$dir/.ready" ]]; then
		rm -rf "$dir" "$dir.tmp"
		tmp="$dir.tmp"
		mkdir -p "$tmp"
		vp_log "vm: fetching $pkg into $cache (once)"
		if ! (cd "$tmp" && apt-get download -q "$pkg") >"$tmp/apt.log" 2>&1; then
			cat "$tmp/apt.log" >&2
			rm -rf "$tmp"
			exec {lockfd}>&-
			vp_skip "apt-get download $pkg failed (no package mirror?)"
		fi
		dpkg -x "$tmp"/*.deb "$tmp/root" || vp_fail "dpkg -x of $pkg failed"
		mv "$tmp/root" "$dir"
		rm -rf "$tmp"
		touch "$dir/.ready"
	fi
	exec {lockfd}>&-
	local -a kernels=("$dir"/boot/vmlinuz-*) moddirs=("$dir"/lib/modules/*)
	VM_KERNEL="${kernels[0]}"
	VM_MODDIR="${moddirs[0]}"
	[[ -f "$VM_KERNEL" && -d "$VM_MODDIR" ]] || vp_fail "$pkg has no vmlinuz or modules under $dir"
}

# vm_module_file NAME: print the path of module NAME (.ko, .ko.xz or
# .ko.zst; '-' and '_' are the same) under $VM_MODDIR; 1 if absent.
vm_module_file() {
	local pat="${1//[-_]/[-_]}" f
	f=$(find "$VM_MODDIR/kernel" \( -name "$pat.ko" -o -name "$pat.ko.xz" -o -name "$pat.ko.zst" \) -print -quit)
	[[ -n "$f" ]] || return 1
	printf '%s\n' "$f"
}

# vm_module_copy SRC DEST: copy a module, decompressed (busybox insmod takes
# plain .ko files).
vm_module_copy() {
	case "$1" in
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

# vm_module_add NAME STAGE ORDERFILE: copy NAME and, first, its dependencies
# (the modinfo "depends=" field) into STAGE/lib/modules, appending each once
# to ORDERFILE in load order; a module built into the kernel is skipped.
vm_module_add() {
	local name="${1//-/_}" stage="$2" order="$3" src dep deps
	grep -qx "$name" "$order" && return 0
	if ! src=$(vm_module_file "$name"); then
		# Built into this kernel (6.12 has virtio and virtio_pci built in).
		grep -q "/${name//[-_]/[-_]}\.ko\$" "$VM_MODDIR/modules.builtin" 2>/dev/null && return 0
		vp_fail "module $name is neither in $VM_MODDIR nor built in"
	fi
	vm_module_copy "$src" "$stage/lib/modules/$name.ko" || vp_fail "cannot unpack module $src"
	deps=$(tr '\0' '\n' <"$stage/lib/modules/$name.ko" | sed -n 's/^depends=//p')
	for dep in ${deps//,/ }; do
		vm_module_add "$dep" "$stage" "$order"
	done
	printf '%s\n' "$name" >>"$order"
}

# The guest's /init: busybox applets on PATH, proc/sys/dev, modules, then the
# test script with the helpers; its status is reported, then power off.
VM_INIT='#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin /run
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /etc/vmkit/modules); do
	insmod /lib/modules/$m.ko || echo "@@VMKIT@@ insmod-failed $m"
done
dmesg -n 1
echo "@@VMKIT@@ booted $(cut -d" " -f1 /proc/uptime)"
(. /etc/vmkit/guest.sh; . /etc/vmkit/test.sh)
echo "@@VMKIT@@ exit $?"
sync
poweroff -f
'

# Guest helpers, sourced before the test script.
VM_GUEST_LIB='# vm_say KEY VALUE...: report a result to the host (one marker line).
vm_say() { echo "@@VMKIT@@ $*"; }
# vm_arg NAME: the value of vmkit.NAME=VALUE on the kernel command line.
vm_arg() { tr " " "\n" </proc/cmdline | sed -n "s/^vmkit\.$1=//p" | head -1; }
'

# vm_bin_libs SRC STAGE: copy the shared libraries of the host binary SRC
# and its ELF interpreter (as ldd lists them) to the same paths in STAGE.
vm_bin_libs() {
	local lib
	for lib in $(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		mkdir -p "$2$(dirname "$lib")"
		cp -L "$lib" "$2$lib"
	done
}

# vm_initramfs [--module NAME]... [--file SRC:DEST]... [--bin SRC:DEST]...
# SCRIPT OUT: build a gzip'd newc initramfs at OUT: static busybox, the
# virtio modules (plus each --module, with dependencies), each --file copied
# to DEST (an absolute guest path; host binaries must be static), each --bin
# (a dynamically linked host binary) copied to DEST with its shared
# libraries and ELF interpreter, and /init running SCRIPT.  Needs vm_kernel
# first.
vm_initramfs() {
	local -a mods=("${VM_MODULES[@]}") files=() bins=()
	local stage m f dest
	while [[ $# -gt 2 ]]; do
		case "$1" in
		--module) mods+=("$2") ;;
		--file) files+=("$2") ;;
		--bin) bins+=("$2") ;;
		*) vp_fail "vm_initramfs: unknown option $1" ;;
		esac
		shift 2
	done
	[[ $# -eq 2 && -f "$1" ]] || vp_fail "vm_initramfs: want SCRIPT OUT (script '${1:-}' missing?)"
	[[ -n "$VM_MODDIR" ]] || vp_fail "vm_initramfs: call vm_kernel first"
	stage=$(mktemp -d "${VP_TMP:-/tmp}/vm-initramfs.XXXXXX")
	mkdir -p "$stage"/{bin,etc/vmkit,lib/modules}
	cp "$VM_BUSYBOX" "$stage/bin/busybox"
	printf '%s' "$VM_INIT" >"$stage/init"
	chmod 755 "$stage/init"
	printf '%s' "$VM_GUEST_LIB" >"$stage/etc/vmkit/guest.sh"
	cp "$1" "$stage/etc/vmkit/test.sh"
	: >"$stage/etc/vmkit/modules"
	for m in "${mods[@]}"; do
		vm_module_add "$m" "$stage" "$stage/etc/vmkit/modules"
	done
	for f in "${files[@]}"; do
		dest="${f#*:}"
		[[ "$dest" == /* && -e "${f%%:*}" ]] || vp_fail "vm_initramfs: --file $f: want SRC:/ABS/DEST with SRC existing"
		mkdir -p "$stage$(dirname "$dest")"
		cp -a "${f%%:*}" "$stage$dest"
	done
	for f in "${bins[@]}"; do
		dest="${f#*:}"
		[[ "$dest" == /* && -x "${f%%:*}" ]] || vp_fail "vm_initramfs: --bin $f: want SRC:/ABS/DEST with SRC executable"
		mkdir -p "$stage$(dirname "$dest")"
		# -L: a binary reached through a symlink (mkfs.ext4 -> mke2fs).
		cp -L "${f%%:*}" "$stage$dest"
		vm_bin_libs "${f%%:*}" "$stage" || vp_fail "vm_initramfs: --bin $f: cannot copy its libraries"
	done
	(cd "$stage" && find . | "$VM_BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -1 >"$2" ||
		vp_fail "vm_initramfs: cannot write $2"
	rm -rf "$stage"
}

# vm_start [--netns NS] OUT TIMEOUT QEMU_ARGS...: boot the kernel with the
# initramfs given in QEMU_ARGS (-initrd FILE) under TCG, in netns NS if
# given, in the background; the serial console goes to OUT.  QEMU is killed
# after TIMEOUT seconds, and at the test's cleanup; QEMU's default NIC is
# off (-nic none), so the guest has only the devices in QEMU_ARGS.  Sets VM_PID.
vm_start() {
	local -a ns=()
	if [[ "${1:-}" == --netns ]]; then
		ns=(ip netns exec "$2")
		shift 2
	fi
	local out="$1" secs="$2"
	shift 2
	[[ -n "$VM_KERNEL" ]] || vp_fail "vm_start: call vm_kernel first"
	vp_start_daemon "$out" timeout -k 5 "$secs" "${ns[@]}" "$VM_QEMU" -accel "${VM_ACCEL:-tcg}" \
		-m "${VM_MEM:-256}" -nographic -no-reboot -nic none -kernel "$VM_KERNEL" \
		-append "console=ttyS0 quiet panic=-1 ${VM_APPEND:-}" "$@" </dev/null
	VM_PID=$VP_PID
}

# vm_wait [PID]: wait for the guest started by vm_start (default VM_PID) to
# end; return QEMU's status (0 after the guest's poweroff, 124 if it was
# killed at its timeout).  Logs the time the wait took.
vm_wait() {
	local pid="${1:-$VM_PID}" rc=0 t0=$SECONDS
	wait "$pid" || rc=$?
	vp_log "vm: guest $pid ended with status $rc after $((SECONDS - t0)) s of waiting"
	return "$rc"
}

# vm_run OUT TIMEOUT QEMU_ARGS...: vm_start and vm_wait; fails the test
# (showing the console) unless the guest powered off in time.
vm_run() {
	local out="$1"
	local rc=0
	vm_start "$@"
	vm_wait || rc=$?
	if [[ $rc -ne 0 ]]; then
		vm_dump "$out"
		vp_fail "guest did not power off cleanly (QEMU status $rc; 124 = timeout)"
	fi
}

# vm_result OUT KEY: print the value of the last "KEY value" marker the guest
# printed; 1 if it printed none.
vm_result() {
	local line
	# The marker may follow terminal escapes the firmware left on the line.
	line=$(tr -d '\r' <"$1" | grep -a "$VM_MARK $2\( \|\$\)" | tail -1) || return 1
	line="${line#*"$VM_MARK $2"}"
	printf '%s\n' "${line# }"
}

# vm_wait_result OUT KEY SECONDS: wait until the guest reports KEY (polled
# every 0.2 s); 1 if SECONDS pass or the guest ends first.
vm_wait_result() {
	local deadline=$((SECONDS + $3))
	while ((SECONDS < deadline)); do
		vm_result "$1" "$2" >/dev/null && return 0
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.2
	done
	vm_result "$1" "$2" >/dev/null
}

# vm_assert_result OUT KEY WANT: fail, showing the console, unless the guest
# reported KEY with value WANT.
vm_assert_result() {
	local got
	got=$(vm_result "$1" "$2") || got="(not reported)"
	if [[ "$got" != "$3" ]]; then
		vm_dump "$1"
		vp_fail "guest result $2: got '$got', want '$3'"
	fi
}

# vm_dump OUT: print the last 40 lines of the guest console to stderr.
vm_dump() {
	{
		echo "--- guest console ($1), last 40 lines:"
		tr -d '\r' <"$1" | tail -40
		echo "---"
	} >&2
}
