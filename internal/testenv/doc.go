// Package testenv is the test environment shared by every revocast package's
// tests: real servers, no mocks.
//
// It starts a real redis-server child process on a free loopback port with
// its own data directory (StartRedis), an embedded nats-server single node
// (StartNATS) or an N-node routed cluster (StartCluster), optionally with
// JetStream file storage that survives restarts, and a loopback TCP proxy
// for fault injection (StartProxy): blackhole, latency and hard cuts.
//
// Everything is torn down by t.Cleanup: processes are killed and waited for,
// servers are shut down, connections closed, and all goroutines started by
// this package have exited when cleanup returns, so packages may use
// go.uber.org/goleak. Wait for conditions with WaitFor instead of sleeping.
//
// Helpers take a testing.TB and call t.Fatal on failure, so they must be
// called from the goroutine running the test, as the testing package requires.
package testenv
