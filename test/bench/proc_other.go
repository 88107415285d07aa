//go:build !linux

package main

import "syscall"

// childProcAttr has nothing to add outside Linux; the benchmark needs /proc anyway.
func childProcAttr() *syscall.SysProcAttr {
	return nil
}
