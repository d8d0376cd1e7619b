//go:build unix

package testenv

import (
	"os"
	"syscall"
)

var (
	sigTerm os.Signal = syscall.SIGTERM
	sigKill os.Signal = syscall.SIGKILL
)

// signalGroup sends sig to the process group led by p (see sysProcAttr),
// which also reaches redis-server's forked children (AOF rewrite).
func signalGroup(p *os.Process, sig os.Signal) error {
	return syscall.Kill(-p.Pid, sig.(syscall.Signal))
}
