//go:build !unix

package testenv

import (
	"os"
	"syscall"
)

var (
	sigTerm = os.Kill // no SIGTERM delivery outside unix
	sigKill = os.Kill
)

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func signalGroup(p *os.Process, sig os.Signal) error { return p.Signal(sig) }
