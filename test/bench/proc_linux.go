package main

import "syscall"

// childProcAttr kills the manager when the benchmark dies, so no manager outlives a crashed or
// interrupted run.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
