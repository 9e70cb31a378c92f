#!/usr/bin/env bash
# deploy_csi_manifests.sh - deploy/csi/*.yaml parse as YAML and hold
# together as a set (csi_manifests.py: the fields each kind requires, the
# references between objects, one driver name, each sidecar's upstream RBAC
# rules, the node DaemonSet's sidecars, privileges, propagation and host
# paths, the VM disk as a Filesystem PVC of fstype vhost-user-blk), and broken
# copies of the set (one defect each) are refused.
source "$(dirname "$0")/lib.sh"
vp_init dcm
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "no $PY"
$PY -c 'import yaml' 2>/dev/null || vp_skip "python3-yaml not installed (PyYAML)"
CHECK="$VP_SOURCE/tests/integration/csi_manifests.py"
SRC="$VP_SOURCE/deploy/csi"
DRIVER=vblk.vplumb.dev

out=$($PY "$CHECK" "$SRC" "$DRIVER" 2>&1) || vp_fail "deploy/csi: $out"
vp_ok "deploy/csi: $out"

for f in csidriver.yaml storageclasses.yaml snapshotclass.yaml rbac.yaml node.yaml; do
	[[ -f $SRC/$f ]] || vp_fail "deploy/csi/$f missing"
done
grep -q -- "--kubelet-registration-path=/var/lib/kubelet/plugins/$DRIVER/csi.sock" "$SRC/node.yaml" ||
	vp_fail "node.yaml: the registrar's --kubelet-registration-path is not kubelet's path to the socket"
vp_ok "deploy/csi: every expected file, registrar path /var/lib/kubelet/plugins/$DRIVER/csi.sock"

# broken FILE SED-EXPR WHAT: a copy of the set with one defect must fail,
# naming the defect.
broken() {
	local file=$1 expr=$2 what=$3 dir="$VP_TMP/broken"
	rm -rf "$dir" && cp -r "$SRC" "$dir"
	sed -i "$expr" "$dir/$file"
	cmp -s "$SRC/$file" "$dir/$file" && vp_fail "broken copy ($what): sed '$expr' changed nothing in $file"
	local rc=0
	out=$($PY "$CHECK" "$dir" "$DRIVER" 2>&1) || rc=$?
	[[ $rc -ne 0 ]] || vp_fail "a copy with $what passes: the check checks nothing"
	vp_log "  $what: $out"
}
broken storageclasses.yaml 's/^  fsType: ext4/  fsType: [ext4/' "a YAML syntax error"
broken node.yaml '0,/name: pool$/s/name: pool$/name: pools/' "a volumeMount of an undeclared volume"
broken node.yaml 's/^        app.kubernetes.io\/name: vblk-csi-node/        app.kubernetes.io\/name: other/' "a selector not matching the template"
broken node.yaml '0,/image: localhost/s/^ *image: localhost.*$//' "a container without an image"
broken storageclasses.yaml '0,/^provisioner:/s/^provisioner: .*/provisioner: vblk.example.com/' "a StorageClass of another provisioner"
broken example-block.yaml 's/storageClassName: vblk-block/storageClassName: vblk-blok/' "a PVC of an undefined StorageClass"
broken rbac.yaml '0,/    name: vblk-csi-node$/s/    name: vblk-csi-node$/    name: vblk-csi/' "a binding to an undefined ServiceAccount"
broken rbac.yaml '0,/^  name: vblk-csi-resizer$/s/^  name: vblk-csi-resizer$/  name: vblk-csi-resize/' "a binding to an undefined ClusterRole"
broken csidriver.yaml 's/attachRequired: false/attachRequired: true/' "a CSIDriver requiring attach"
broken node.yaml 's#plugins/vblk.vplumb.dev#plugins/vblk.example.com#' "another driver's socket directory"
broken csidriver.yaml 's/^  name: vblk.vplumb.dev/  name: vblk.example.com/' "a CSIDriver of another name"
# The CSI deployment's own needs (csi_manifests.py check_csi_pods).
broken rbac.yaml '/^    resources: \[persistentvolumeclaims\/status\]$/d' "a resizer without patch on PVC status"
broken rbac.yaml '0,/^    resources: \[csinodes\]$/s/^    resources: \[csinodes\]$/    resources: [csinode]/' "a provisioner without csinodes"
broken rbac.yaml '/^    resources: \[volumesnapshotcontents\/status\]$/d' "a snapshotter without VolumeSnapshotContent status"
broken node.yaml '0,/--leader-election=false/s/--leader-election=false/--leader-election=true/' "leader election without leases"
broken node.yaml '0,/^            - name: NODE_NAME$/!{0,/^            - name: NODE_NAME$/s/NODE_NAME$/NODE/}' "a --node-deployment sidecar without NODE_NAME"
broken node.yaml 's/mountPropagation: Bidirectional/mountPropagation: HostToContainer/' "the driver's kubelet mount not Bidirectional"
broken node.yaml '/- name: vblk-csi$/,/privileged: true/s/privileged: true/privileged: false/' "the driver container not privileged"
broken node.yaml 's#sig-storage/livenessprobe:#sig-storage/livenessprobe-gone:#' "a node DaemonSet without livenessprobe"
broken node.yaml 's#--csi-address=/csi/csi.sock#--csi-address=/registration/csi.sock#' "a sidecar looking for the socket elsewhere"
broken node.yaml 's#^            - --pool=/var/lib/vplumb/csi#            - --pool=/srv/pool#' "a pool not on a hostPath volume"
broken node.yaml 's#^        - name: liveness-probe#        - name: csi-attacher\n          image: registry.k8s.io/sig-storage/csi-attacher:v4.8.0\n          args: [--csi-address=/csi/csi.sock]\n          volumeMounts: [{name: socket-dir, mountPath: /csi}]\n&#' "a csi-attacher with attachRequired: false"
# The VM disk carried by kubelet as a Filesystem PVC (csi_manifests.py check_vm_disks).
broken example-vm.yaml 's/volumeMode: Filesystem/volumeMode: Block/' "a vhost-user-blk volume as a Block PVC"
broken example-vm.yaml 's/^      volumeMounts:$/      volumeDevices:/' "a vhost-user-blk volume in volumeDevices"
broken storageclasses.yaml '/^  vmDisk: "true"$/d' "fstype vhost-user-blk without vmDisk"
grep -q 'path=/vm/disk0/disk.sock' "$SRC/example-vm.yaml" ||
	vp_fail "example-vm.yaml: QEMU does not open disk.sock in the volume's mountPath"
vp_ok "each of 25 broken copies of deploy/csi is refused"
