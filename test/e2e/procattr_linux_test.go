//go:build linux

package e2e

import "syscall"

// childAttr makes a child process die with the test process, so that a test binary killed by
// its timeout leaves no manager or fake behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
