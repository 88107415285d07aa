#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, kubectl, etcd) from the Go module proxy.
#
# setup-envtest downloads prebuilt binaries from a host that is not reachable here, and there is
# no Docker engine or kind, so the binaries are compiled from source. The result goes into a
# per-version cache directory outside the clone, so later runs (and later CI runs on the same
# machine) reuse it and take seconds.
#
# Usage: hack/build-envtest.sh DEST_DIR KUBE_VERSION ETCD_VERSION
set -euo pipefail

dest=$1 kube_version=$2 etcd_version=$3
root=$(cd "$(dirname "$0")" && pwd)

if [[ -x $dest/kube-apiserver && -x $dest/kubectl && -x $dest/etcd ]]; then
  exit 0
fi

echo "envtest: building kube-apiserver ${kube_version}, kubectl and etcd ${etcd_version} from source into ${dest}"
echo "envtest: the first build compiles Kubernetes and takes about 10 minutes on 2 cores; later runs reuse the cache"
tmp="${dest}.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

version_pkg=k8s.io/component-base/version
ldflags="-s -w -X ${version_pkg}.gitVersion=${kube_version} -X ${version_pkg}.gitMajor=1"
ldflags+=" -X ${version_pkg}.gitMinor=$(echo "${kube_version#v}" | cut -d. -f2)"
ldflags+=" -X ${version_pkg}.gitTreeState=clean -X ${version_pkg}.buildDate=1970-01-01T00:00:00Z"

(cd "$root/envtest/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
echo "envtest: kube-apiserver built"
(cd "$root/envtest/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
echo "envtest: kubectl built"
(cd "$root/envtest/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
echo "envtest: etcd built"

"$tmp/kube-apiserver" --version
mkdir -p "$(dirname "$dest")"
rm -rf "$dest" && mv "$tmp" "$dest"
trap - EXIT
