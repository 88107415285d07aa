//go:build tools

// Package etcd pins the etcd server that make envtest builds from source.
package etcd

import _ "go.etcd.io/etcd/server/v3"
