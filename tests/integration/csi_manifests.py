"""csi_manifests.py - check a directory of Kubernetes manifests (deploy/csi/)
as a set: every document parses and has apiVersion, kind and metadata.name;
each kind has the fields it requires; references between objects
(bindings -> roles and ServiceAccounts, PVC -> StorageClass, pod volumes ->
PVCs, volumeMounts -> volumes) resolve inside the set; one driver name
everywhere. Prints one line per problem and exits 1 if there is any.

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


def main():
    directory, driver = sys.argv[1], sys.argv[2]
    docs = load(directory)
    check(docs, driver)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"{len(docs)} objects in {directory}: ok")


main()
