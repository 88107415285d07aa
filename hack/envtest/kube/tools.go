//go:build tools

// Package kube pins the Kubernetes binaries that make envtest builds from source.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
