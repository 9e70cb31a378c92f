"""csi_manifests.py - check a directory of Kubernetes manifests (deploy/csi/)
as a set: every document parses and has apiVersion, kind and metadata.name;
each kind has the fields it requires; references between objects
(bindings -> roles and ServiceAccounts, PVC -> StorageClass, pod volumes ->
PVCs, volumeMounts -> volumes) resolve inside the set; one driver name
everywhere. And the CSI deployment's own needs (check_csi_pods):
- the ServiceAccount of a pod with a kubernetes-csi sidecar is granted the
  rules that sidecar's upstream RBAC file lists (SIDECAR_RULES), plus leases
  when its leader election is on; no csi-attacher when the CSIDriver says
  attachRequired: false;
- sidecars with --node-deployment get NODE_NAME from spec.nodeName;
- every sidecar's --csi-address is in a volume the driver container mounts
  where its --endpoint socket is;
- the driver's node DaemonSet has node-driver-registrar and livenessprobe;
  the driver container is privileged, mounts its --kubelet-dir from the
  host's kubelet directory with Bidirectional propagation, and has /dev and
  its --pool on hostPath volumes.
And the VM disks (check_vm_disks): a StorageClass with
csi.storage.k8s.io/fstype vhost-user-blk has vmDisk "true"; its PVCs are
volumeMode Filesystem and pods mount them with volumeMounts (kubelet cannot
carry the vhost-user socket as a Block PVC).
Prints one line per problem and exits 1 if there is any.

usage: python3 csi_manifests.py DIR DRIVER"""
import glob
import os
import sys

import yaml

problems = []


def bad(where, msg):
    problems.append(f"{where}: {msg}")


def get(obj, path):
    """obj's field at a dotted path, or None."""
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def require(where, obj, paths):
    for p in paths:
        if get(obj, p) in (None, "", [], {}):
            bad(where, f"missing {p}")


def load(directory):
    docs = []
    files = sorted(glob.glob(os.path.join(directory, "*.yaml")))
    if not files:
        bad(directory, "no *.yaml")
    for path in files:
        name = os.path.basename(path)
        try:
            with open(path) as f:
                parsed = list(yaml.safe_load_all(f))
        except yaml.YAMLError as e:
            bad(name, f"does not parse: {e}")
            continue
        for i, doc in enumerate(parsed):
            if doc is None:
                continue
            where = f"{name}#{i}"
            if not isinstance(doc, dict):
                bad(where, "not a mapping")
                continue
            require(where, doc, ["apiVersion", "kind", "metadata.name"])
            where = f"{name}:{doc.get('kind')}/{get(doc, 'metadata.name')}"
            docs.append((where, doc))
    return docs


def index(docs):
    """(kind, namespace, name) of every object; cluster objects get ns None."""
    return {(d.get("kind"), get(d, "metadata.namespace"), get(d, "metadata.name")) for _, d in docs}


def check_pod_spec(where, spec, objects, namespace):
    """Containers named with images, mounts and devices naming declared
    volumes, claims of PVCs in the set, the ServiceAccount in the set."""
    if not isinstance(spec, dict):
        return bad(where, "no pod spec")
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    if not spec.get("containers"):
        bad(where, "no containers")
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        require(cw, c, ["name", "image"])
        for m in (c.get("volumeMounts") or []) + (c.get("volumeDevices") or []):
            if m.get("name") not in volumes:
                bad(cw, f"mounts undeclared volume {m.get('name')!r}")
            if not (m.get("mountPath") or m.get("devicePath")):
                bad(cw, f"volume {m.get('name')!r} has no mountPath/devicePath")
    for name, v in volumes.items():
        claim = get(v, "persistentVolumeClaim.claimName")
        if claim and ("PersistentVolumeClaim", namespace, claim) not in objects:
            bad(where, f"volume {name!r} claims undefined PVC {claim!r}")
    sa = spec.get("serviceAccountName")
    if sa and ("ServiceAccount", namespace, sa) not in objects:
        bad(where, f"serviceAccountName {sa!r} is not defined in the set")


def check_workload(where, doc, objects):
    require(where, doc, ["spec.selector.matchLabels", "spec.template.metadata.labels", "spec.template.spec"])
    selector = get(doc, "spec.selector.matchLabels") or {}
    labels = get(doc, "spec.template.metadata.labels") or {}
    for k, v in selector.items():
        if labels.get(k) != v:
            bad(where, f"selector {k}={v} does not match the template's labels")
    check_pod_spec(where, get(doc, "spec.template.spec"), objects, get(doc, "metadata.namespace"))


def check_binding(where, doc, objects):
    require(where, doc, ["roleRef.kind", "roleRef.name", "subjects"])
    ref = doc.get("roleRef") or {}
    ns = get(doc, "metadata.namespace") if ref.get("kind") == "Role" else None
    if (ref.get("kind"), ns, ref.get("name")) not in objects:
        bad(where, f"roleRef {ref.get('kind')}/{ref.get('name')} is not defined in the set")
    for s in doc.get("subjects") or []:
        if s.get("kind") == "ServiceAccount" and ("ServiceAccount", s.get("namespace"), s.get("name")) not in objects:
            bad(where, f"subject ServiceAccount {s.get('namespace')}/{s.get('name')} is not defined in the set")


def check(docs, driver):
    objects = index(docs)
    for where, doc in docs:
        kind = doc.get("kind")
        if kind == "CSIDriver":
            require(where, doc, ["spec"])
            if get(doc, "metadata.name") != driver:
                bad(where, f"name is not {driver}")
            if get(doc, "spec.attachRequired") is not False:
                bad(where, "spec.attachRequired must be false (no ControllerPublish)")
            if "Persistent" not in (get(doc, "spec.volumeLifecycleModes") or []):
                bad(where, "spec.volumeLifecycleModes lacks Persistent")
        elif kind == "StorageClass":
            if doc.get("provisioner") != driver:
                bad(where, f"provisioner {doc.get('provisioner')!r} is not {driver}")
            if doc.get("volumeBindingMode") != "WaitForFirstConsumer":
                bad(where, "volumeBindingMode must be WaitForFirstConsumer (volumes are node-local)")
        elif kind == "VolumeSnapshotClass":
            if doc.get("driver") != driver:
                bad(where, f"driver {doc.get('driver')!r} is not {driver}")
            require(where, doc, ["deletionPolicy"])
        elif kind in ("DaemonSet", "Deployment", "StatefulSet"):
            check_workload(where, doc, objects)
        elif kind == "Pod":
            check_pod_spec(where, doc.get("spec"), objects, get(doc, "metadata.namespace"))
        elif kind in ("ClusterRoleBinding", "RoleBinding"):
            check_binding(where, doc, objects)
        elif kind in ("ClusterRole", "Role"):
            require(where, doc, ["rules"])
            for r in doc.get("rules") or []:
                require(where + " rule", r, ["resources", "verbs"])
        elif kind == "PersistentVolumeClaim":
            require(where, doc, ["spec.accessModes", "spec.resources.requests.storage"])
            sc = get(doc, "spec.storageClassName")
            if ("StorageClass", None, sc) not in objects:
                bad(where, f"storageClassName {sc!r} is not defined in the set")
        elif kind not in ("Namespace", "ServiceAccount"):
            bad(where, f"kind {kind} is not checked by this script")
        ns = get(doc, "metadata.namespace")
        if ns and ("Namespace", None, ns) not in objects:
            bad(where, f"namespace {ns!r} is not defined in the set")
    # The driver's socket directory is named after it wherever it appears.
    for where, doc in docs:
        text = yaml.safe_dump(doc)
        for part in text.split("/plugins/")[1:]:
            name = part.split("/")[0].split("\n")[0]
            if name not in (driver, "") and not name.startswith("plugins_registry"):
                bad(where, f"plugin directory names driver {name!r}, not {driver}")


# What each kubernetes-csi sidecar needs from the API, after its upstream
# deploy/kubernetes RBAC file (without the optional secrets rules): image
# name -> (apiGroup, resource, verbs).
SIDECAR_RULES = {
    "csi-provisioner": [
        ("", "persistentvolumes", "get list watch create delete"),
        ("", "persistentvolumeclaims", "get list watch update"),
        ("storage.k8s.io", "storageclasses", "get list watch"),
        ("", "events", "list watch create update patch"),
        ("snapshot.storage.k8s.io", "volumesnapshots", "get list"),
        ("snapshot.storage.k8s.io", "volumesnapshotcontents", "get list"),
        ("storage.k8s.io", "csinodes", "get list watch"),
        ("", "nodes", "get list watch"),
    ],
    "csi-snapshotter": [
        ("", "events", "list watch create update patch"),
        ("snapshot.storage.k8s.io", "volumesnapshotclasses", "get list watch"),
        ("snapshot.storage.k8s.io", "volumesnapshotcontents", "get list watch update patch"),
        ("snapshot.storage.k8s.io", "volumesnapshotcontents/status", "update patch"),
    ],
    "csi-resizer": [
        ("", "persistentvolumes", "get list watch patch"),
        ("", "persistentvolumeclaims", "get list watch"),
        ("", "pods", "get list watch"),
        ("", "persistentvolumeclaims/status", "patch"),
        ("", "events", "list watch create update patch"),
    ],
    "csi-attacher": [
        ("", "persistentvolumes", "get list watch patch"),
        ("storage.k8s.io", "csinodes", "get list watch"),
        ("storage.k8s.io", "volumeattachments", "get list watch patch"),
        ("storage.k8s.io", "volumeattachments/status", "patch"),
    ],
    "csi-node-driver-registrar": [],
    "livenessprobe": [],
}
LEASES = ("coordination.k8s.io", "leases", "get watch list delete update create")


def sidecar_of(container):
    """The kubernetes-csi sidecar a container runs (by image name), or None."""
    name = (container.get("image") or "").rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    return name if name in SIDECAR_RULES else None


def arg(container, flag):
    """The value of --flag=VALUE in a container's args, or None."""
    for a in container.get("args") or []:
        if isinstance(a, str) and a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def grants(docs):
    """ServiceAccount (ns, name) -> [(rule, namespace or None for cluster-wide)]."""
    roles = {(d.get("kind"), get(d, "metadata.namespace") if d.get("kind") == "Role" else None,
              get(d, "metadata.name")): d.get("rules") or []
             for _, d in docs if d.get("kind") in ("Role", "ClusterRole")}
    out = {}
    for _, d in docs:
        if d.get("kind") not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        ns = get(d, "metadata.namespace") if d.get("kind") == "RoleBinding" else None
        ref = d.get("roleRef") or {}
        rules = roles.get((ref.get("kind"), ns if ref.get("kind") == "Role" else None, ref.get("name")), [])
        for s in d.get("subjects") or []:
            if s.get("kind") == "ServiceAccount":
                out.setdefault((s.get("namespace"), s.get("name")), []).extend((r, ns) for r in rules)
    return out


def granted(rules, namespace, need):
    """Whether the (rule, scope) pairs allow every verb of need in namespace."""
    group, resource, verbs = need
    have = set()
    for r, scope in rules:
        if scope not in (None, namespace):
            continue
        if group in (r.get("apiGroups") or []) or "*" in (r.get("apiGroups") or []):
            if resource in (r.get("resources") or []) or "*" in (r.get("resources") or []):
                have.update(r.get("verbs") or [])
    return "*" in have or set(verbs.split()) <= have


def check_socket_shared(where, driver, sidecar, volumes):
    """The sidecar's --csi-address lies in a volume the driver mounts at the
    directory of its --endpoint socket."""
    endpoint = (arg(driver, "--endpoint") or "").replace("unix://", "", 1).replace("unix:", "", 1)
    address = (arg(sidecar, "--csi-address") or "").replace("unix://", "", 1)
    if not address:
        return bad(where, f"sidecar {sidecar.get('name')} has no --csi-address")

    def volume_at(c, path):
        for m in c.get("volumeMounts") or []:
            if os.path.dirname(path) == m.get("mountPath"):
                return m.get("name")
        return None
    shared = volume_at(driver, endpoint)
    if shared is None or shared != volume_at(sidecar, address):
        bad(where, f"sidecar {sidecar.get('name')}: --csi-address {address} is not in the volume "
                   f"holding the driver's socket {endpoint}")


def mount_of(container, path, volumes):
    """(volumeMount, volume) that holds path in a container, the deepest one."""
    best = (None, None)
    for m in container.get("volumeMounts") or []:
        mp = m.get("mountPath") or ""
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and \
                (best[0] is None or len(mp) > len(best[0].get("mountPath"))):
            best = (m, volumes.get(m.get("name")))
    return best


def check_driver_container(where, c, volumes):
    """Privileged; --kubelet-dir from the host, Bidirectional; /dev and --pool on hostPath."""
    cw = f"{where} container {c.get('name')}"
    if get(c, "securityContext.privileged") is not True:
        bad(cw, "not privileged (mounts, loop devices, Bidirectional propagation)")
    kubelet = arg(c, "--kubelet-dir") or "/var/lib/kubelet"
    m, v = mount_of(c, kubelet, volumes)
    if not m or m.get("mountPath") != kubelet or get(v, "hostPath.path") != kubelet:
        bad(cw, f"does not mount the host's {kubelet} at {kubelet}")
    elif m.get("mountPropagation") != "Bidirectional":
        bad(cw, f"mounts {kubelet} without mountPropagation: Bidirectional (its mounts would not reach kubelet)")
    for path, what in (("/dev", "/dev"), (arg(c, "--pool"), "--pool")):
        if not path:
            bad(cw, f"no {what}")
            continue
        _, v = mount_of(c, path, volumes)
        if not get(v, "hostPath.path"):
            bad(cw, f"{what} {path} is not on a hostPath volume (it must outlive the pod)")


def check_sidecar(where, name, c, rules, namespace, attach):
    """Its upstream RBAC rules (and leases with leader election), no attacher
    without attach, NODE_NAME for --node-deployment."""
    needs = list(SIDECAR_RULES[name])
    if arg(c, "--leader-election") == "true" or "--leader-election" in (c.get("args") or []):
        needs.append(LEASES)
    for need in needs:
        if not granted(rules, namespace, need):
            bad(where, f"{name}: the ServiceAccount lacks {need[2]} on "
                       f"{need[0] or 'core'}/{need[1]} (upstream RBAC)")
    if name == "csi-attacher" and attach is False:
        bad(where, "csi-attacher runs, but the CSIDriver says attachRequired: false")
    if arg(c, "--node-deployment") == "true":
        env = {e.get("name"): e for e in c.get("env") or []}
        if get(env.get("NODE_NAME"), "valueFrom.fieldRef.fieldPath") != "spec.nodeName":
            bad(where, f"{name} --node-deployment without NODE_NAME from spec.nodeName")


def check_csi_pods(docs, driver):
    """The CSI deployment's needs (module docstring), per workload with sidecars."""
    sa_rules = grants(docs)
    attach = next((get(d, "spec.attachRequired") for _, d in docs
                   if d.get("kind") == "CSIDriver" and get(d, "metadata.name") == driver), None)
    for where, doc in docs:
        if doc.get("kind") not in ("DaemonSet", "Deployment", "StatefulSet"):
            continue
        spec = get(doc, "spec.template.spec") or {}
        ns = get(doc, "metadata.namespace")
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        containers = spec.get("containers") or []
        sidecars = [(sidecar_of(c), c) for c in containers if sidecar_of(c)]
        drivers = [c for c in containers if arg(c, "--endpoint") and not sidecar_of(c)]
        rules = sa_rules.get((ns, spec.get("serviceAccountName") or "default"), [])
        for name, c in sidecars:
            check_sidecar(where, name, c, rules, ns, attach)
            for d in drivers:
                check_socket_shared(where, d, c, volumes)
        if doc.get("kind") == "DaemonSet" and drivers:
            present = {n for n, _ in sidecars}
            for want in ("csi-node-driver-registrar", "livenessprobe"):
                if want not in present:
                    bad(where, f"the node DaemonSet has no {want}")
            for d in drivers:
                check_driver_container(where, d, volumes)


VHOST_FSTYPE = "vhost-user-blk"


def check_vm_disks(docs):
    """StorageClasses of fstype vhost-user-blk, their PVCs and the pods using them."""
    classes = set()
    for where, d in docs:
        if d.get("kind") != "StorageClass":
            continue
        params = d.get("parameters") or {}
        if params.get("csi.storage.k8s.io/fstype") == VHOST_FSTYPE:
            classes.add(get(d, "metadata.name"))
            if params.get("vmDisk") != "true":
                bad(where, f"fstype {VHOST_FSTYPE} without vmDisk: \"true\" (vblk-csi refuses it)")
    claims = set()
    for where, d in docs:
        if d.get("kind") == "PersistentVolumeClaim" and get(d, "spec.storageClassName") in classes:
            claims.add((get(d, "metadata.namespace"), get(d, "metadata.name")))
            if get(d, "spec.volumeMode") not in (None, "Filesystem"):
                bad(where, f"a {VHOST_FSTYPE} volume as volumeMode {get(d, 'spec.volumeMode')} "
                           "(kubelet hands the socket's directory only to a Filesystem PVC)")
    for where, d in docs:
        spec = d.get("spec") if d.get("kind") == "Pod" else get(d, "spec.template.spec")
        if d.get("kind") not in ("Pod", "DaemonSet", "Deployment", "StatefulSet") or not spec:
            continue
        vm = {v.get("name") for v in spec.get("volumes") or []
              if (get(d, "metadata.namespace"), get(v, "persistentVolumeClaim.claimName")) in claims}
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for m in c.get("volumeDevices") or []:
                if m.get("name") in vm:
                    bad(where, f"container {c.get('name')}: {VHOST_FSTYPE} volume {m.get('name')!r} "
                               "in volumeDevices (it is a directory: volumeMounts)")


def main():
    directory, driver = sys.argv[1], sys.argv[2]
    docs = load(directory)
    check(docs, driver)
    check_csi_pods(docs, driver)
    check_vm_disks(docs)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"{len(docs)} objects in {directory}: ok")


main()
