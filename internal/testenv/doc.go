// Package testenv starts the real servers revocast's tests run against: redis-server child
// processes on free loopback ports with their own data directories, embedded nats-server nodes
// (single, or a cluster with routes on loopback), and a TCP proxy that injects faults (a silent
// half-open partition, latency, hard cuts). Every helper registers its cleanup with t.Cleanup and
// leaves no process or goroutine behind.
//
// Tests never use the machine's own services: everything here listens on a port it chose.
package testenv
