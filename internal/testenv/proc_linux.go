package testenv

import "syscall"

// sysProcAttr puts the child in its own process group (so the whole group can
// be signalled) and asks the kernel to SIGKILL it if the test binary dies.
// Pdeathsig fires when the OS thread that forked the child exits; the Go
// runtime only retires threads whose goroutine exited while locked with
// runtime.LockOSThread, which test code here does not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
