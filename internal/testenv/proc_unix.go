//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts the child in its own process group so the whole group can
// be signalled. Without Pdeathsig, a crashed test binary may leak the child.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
