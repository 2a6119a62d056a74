#!/usr/bin/env bash
# Offline checks of everything under deploy/ (`make deploy-check`, which
# installs the Python tools first with `make deploy-deps`):
#   1. kubectl must be there (it renders kustomize offline);
#   2. the base and every overlay render with `kubectl kustomize`;
#   3. every rendered object validates against the Kubernetes schemas
#      (kubernetes-validate --strict: unknown fields are errors too);
#   4. the security rules hold for every container (check_security.py);
#   5. the Dockerfile passes hadolint, when there is one.
# Nothing here talks to a cluster or the network.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="${LATCH_VENV:-$HOME/.cache/latch-venv}"
# The Kubernetes version the schemas are checked against: the kubectl this
# kind of machine ships (1.32); raise it with the clusters you run.
k8s_version="${LATCH_K8S_VERSION:-1.32.0}"

fail() { echo "deploy-check: FAILED: $*" >&2; exit 1; }

if ! command -v kubectl >/dev/null 2>&1; then
  fail "kubectl is not installed; it renders the kustomize overlays offline. Install kubectl 1.32 or newer (https://kubernetes.io/docs/tasks/tools/) and run again."
fi
for tool in kubernetes-validate python; do
  [ -x "$venv/bin/$tool" ] || fail "$venv/bin/$tool is missing; run \`make deploy-deps\` first"
done

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

targets=(base overlays/dev overlays/production)
rendered=()
for target in "${targets[@]}"; do
  file="$out/$(echo "$target" | tr / -).yaml"
  kubectl kustomize "$here/$target" >"$file" || fail "kubectl kustomize deploy/$target"
  echo "deploy-check: rendered deploy/$target ($(grep -c '^kind:' "$file") objects)"
  rendered+=("$file")
done

for file in "${rendered[@]}"; do
  # --quiet prints only problems; a failure exits non-zero.
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "$file" \
    || fail "kubernetes-validate --strict: $(basename "$file")"
done
echo "deploy-check: every object valid against Kubernetes $k8s_version (strict)"

"$venv/bin/python" "$here/check_security.py" "${rendered[@]}" || fail "security rules (deploy/check_security.py)"

if [ -f "$root/Dockerfile" ]; then
  [ -x "$venv/bin/hadolint" ] || fail "$venv/bin/hadolint is missing; run \`make deploy-deps\` first"
  "$venv/bin/hadolint" "$root/Dockerfile" || fail "hadolint Dockerfile"
  echo "deploy-check: hadolint Dockerfile ok"
else
  echo "deploy-check: NOTE: no Dockerfile at the repository root; hadolint skipped"
fi

echo "deploy-check: ok (${targets[*]})"
