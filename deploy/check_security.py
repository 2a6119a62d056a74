#!/usr/bin/env python3
"""The security rules every rendered overlay must keep (issue 14), checked on
the output of `kubectl kustomize`, so a later edit cannot drop one quietly.

    check_security.py RENDERED.yaml...

For every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
CronJob, Pod) and every container and initContainer in it:
  - pod: runAsNonRoot, numeric non-root runAsUser/runAsGroup, seccomp
    RuntimeDefault, no service-account token mounted, no hostNetwork /
    hostPID / hostIPC, no hostPath volume;
  - container: the same user rules, readOnlyRootFilesystem,
    allowPrivilegeEscalation false, capabilities drop ALL and add none, not
    privileged, seccomp RuntimeDefault;
  - CPU and memory requested, memory limited;
  - an image with a pinned tag (or digest), never `latest` or none;
  - long-running workloads (not Jobs): liveness, readiness and startup
    probes; Latch's own image: native gRPC probes on 50051.
And every rendered file has NetworkPolicies selecting Latch's pods for both
ingress and egress.

Before anything else it checks itself: a good manifest embedded below must
pass and each deliberately broken variant of it must fail with the rule it
breaks; otherwise the checker is broken and says so.
"""

import copy
import sys

import yaml

LATCH_IMAGE = "ghcr.io/latch-dev/latch"
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
WORKLOADS = LONG_RUNNING | {"Job", "CronJob", "Pod"}


def pod_spec(obj):
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
            "spec"
        ) or {}
    return (spec.get("template") or {}).get("spec") or {}


def check_user(where, ctx, problems):
    if ctx.get("runAsNonRoot") is not True:
        problems.append(f"{where}: securityContext.runAsNonRoot must be true")
    for key in ("runAsUser", "runAsGroup"):
        value = ctx.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f"{where}: securityContext.{key} must be a numeric non-root id")
    if (ctx.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: securityContext.seccompProfile.type must be RuntimeDefault")


def check_image(where, image, problems):
    if not image:
        problems.append(f"{where}: no image")
        return
    if "@sha256:" in image:
        return
    name, _, tag = image.rpartition(":")
    # A colon inside the registry host (host:port/repo) is not a tag.
    if not name or "/" in tag:
        problems.append(f"{where}: image {image} has no tag")
    elif tag == "latest":
        problems.append(f"{where}: image {image} uses the latest tag")


def check_container(where, container, long_running, problems):
    ctx = container.get("securityContext") or {}
    check_user(where, ctx, problems)
    if ctx.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: securityContext.readOnlyRootFilesystem must be true")
    if ctx.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: securityContext.allowPrivilegeEscalation must be false")
    if ctx.get("privileged"):
        problems.append(f"{where}: privileged")
    caps = ctx.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        problems.append(f"{where}: securityContext.capabilities.drop must include ALL")
    if caps.get("add"):
        problems.append(f"{where}: securityContext.capabilities.add must be empty")

    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    for key in ("cpu", "memory"):
        if key not in requests:
            problems.append(f"{where}: resources.requests.{key} missing")
    if "memory" not in limits:
        problems.append(f"{where}: resources.limits.memory missing")

    image = container.get("image") or ""
    check_image(where, image, problems)

    if long_running:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            spec = container.get(probe)
            if not spec:
                problems.append(f"{where}: {probe} missing")
            elif image.startswith(LATCH_IMAGE + ":") or image.startswith(LATCH_IMAGE + "@"):
                grpc = spec.get("grpc") or {}
                if grpc.get("port") != 50051 or "service" not in grpc:
                    problems.append(
                        f"{where}: {probe} must be a native gRPC probe on 50051 naming a service"
                    )


def check_workload(obj, problems):
    kind = obj["kind"]
    name = (obj.get("metadata") or {}).get("name", "?")
    spec = pod_spec(obj)
    where = f"{kind}/{name}"
    check_user(f"{where} pod", spec.get("securityContext") or {}, problems)
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"{where}: {key}")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"{where}: hostPath volume {volume.get('name')}")
    containers = [("initContainer", c, False) for c in spec.get("initContainers") or []]
    containers += [("container", c, kind in LONG_RUNNING) for c in spec.get("containers") or []]
    if not spec.get("containers"):
        problems.append(f"{where}: no containers")
    for label, container, long_running in containers:
        check_container(
            f"{where} {label} {container.get('name')}", container, long_running, problems
        )


def check_network_policies(objects, problems):
    directions = set()
    for obj in objects:
        if obj.get("kind") != "NetworkPolicy":
            continue
        selector = ((obj.get("spec") or {}).get("podSelector") or {}).get("matchLabels") or {}
        if selector.get("app.kubernetes.io/part-of") == "latch":
            directions.update((obj.get("spec") or {}).get("policyTypes") or [])
    for direction in ("Ingress", "Egress"):
        if direction not in directions:
            problems.append(f"no NetworkPolicy restricts {direction.lower()} of Latch's pods")


def check(objects):
    problems = []
    objects = [o for o in objects if isinstance(o, dict)]
    workloads = [o for o in objects if o.get("kind") in WORKLOADS]
    if not workloads:
        problems.append("no workloads rendered")
    for obj in workloads:
        check_workload(obj, problems)
    check_network_policies(objects, problems)
    return problems


# The self-test: one compliant Deployment (and its policies), then edits
# that each break exactly one rule and the message that must result.
GOOD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo}
spec:
  template:
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      initContainers:
        - name: init
          image: ghcr.io/latch-dev/latch:1.0.0
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
          securityContext: &ctx
            runAsNonRoot: true
            runAsUser: 65532
            runAsGroup: 65532
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
      containers:
        - name: app
          image: ghcr.io/latch-dev/latch:1.0.0
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
          securityContext: *ctx
          livenessProbe: &probe {grpc: {port: 50051, service: latch.token.v1.TokenService}}
          readinessProbe: *probe
          startupProbe: *probe
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: in}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/part-of: latch}}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/part-of: latch}}
  policyTypes: [Egress]
"""


def _pod(docs):
    return docs[0]["spec"]["template"]["spec"]


def _app(docs):
    return _pod(docs)["containers"][0]


def _init(docs):
    return _pod(docs)["initContainers"][0]


BROKEN = [
    ("pod runAsNonRoot", lambda d: _pod(d)["securityContext"].pop("runAsNonRoot"),
     "pod: securityContext.runAsNonRoot"),
    ("root user", lambda d: _app(d)["securityContext"].update(runAsUser=0),
     "container app: securityContext.runAsUser"),
    ("named user", lambda d: _pod(d)["securityContext"].update(runAsGroup="nobody"),
     "pod: securityContext.runAsGroup"),
    ("writable root", lambda d: _app(d)["securityContext"].pop("readOnlyRootFilesystem"),
     "readOnlyRootFilesystem"),
    ("escalation", lambda d: _init(d)["securityContext"].update(allowPrivilegeEscalation=True),
     "initContainer init: securityContext.allowPrivilegeEscalation"),
    ("capabilities kept", lambda d: _app(d)["securityContext"].update(capabilities={}),
     "capabilities.drop"),
    ("capability added", lambda d: _app(d)["securityContext"].update(
        capabilities={"drop": ["ALL"], "add": ["NET_ADMIN"]}), "capabilities.add"),
    ("privileged", lambda d: _app(d)["securityContext"].update(privileged=True), "privileged"),
    ("seccomp", lambda d: _app(d)["securityContext"].update(
        seccompProfile={"type": "Unconfined"}), "container app: securityContext.seccompProfile"),
    ("no limits", lambda d: _init(d)["resources"].pop("limits"), "resources.limits.memory"),
    ("no requests", lambda d: _app(d).pop("resources"), "resources.requests.cpu"),
    ("latest", lambda d: _app(d).update(image="ghcr.io/latch-dev/latch:latest"), "latest tag"),
    ("untagged", lambda d: _app(d).update(image="localhost:5000/latch"), "has no tag"),
    ("no liveness", lambda d: _app(d).pop("livenessProbe"), "livenessProbe missing"),
    ("http probe", lambda d: _app(d).update(startupProbe={"tcpSocket": {"port": 50051}}),
     "startupProbe must be a native gRPC probe"),
    ("hostNetwork", lambda d: _pod(d).update(hostNetwork=True), "hostNetwork"),
    ("hostPath", lambda d: _pod(d).update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
     "hostPath volume"),
    ("token mounted", lambda d: _pod(d).pop("automountServiceAccountToken"),
     "automountServiceAccountToken"),
    ("no egress policy", lambda d: d.pop(2), "restricts egress"),
]


def self_test():
    good = list(yaml.safe_load_all(GOOD))
    failures = []
    if check(copy.deepcopy(good)):
        failures.append(f"the compliant manifest fails: {check(copy.deepcopy(good))}")
    for label, breaks, expected in BROKEN:
        docs = copy.deepcopy(good)
        breaks(docs)
        problems = check(docs)
        if not any(expected in p for p in problems):
            failures.append(f"broken manifest ({label}) passed; got {problems}")
    return failures


def main(paths):
    failures = self_test()
    if failures:
        for f in failures:
            print(f"check_security: SELF-TEST FAILED: {f}", file=sys.stderr)
        return 2
    print(f"check_security: self-test ok ({len(BROKEN)} broken manifests rejected)")
    if not paths:
        print("usage: check_security.py RENDERED.yaml...", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            objects = list(yaml.safe_load_all(f))
        problems = check(objects)
        workloads = sum(1 for o in objects if isinstance(o, dict) and o.get("kind") in WORKLOADS)
        if problems:
            status = 1
            for p in problems:
                print(f"check_security: {path}: {p}", file=sys.stderr)
        else:
            print(f"check_security: {path}: {workloads} workloads ok")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
