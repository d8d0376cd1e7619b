package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revocast/revocast/internal/testenv"
)

// topology is the docker-compose.yml topology: three NATS nodes, Redis, two issuers, two demo
// services on different NATS nodes. TestComposeFileMatchesTopology keeps the file and this test in
// step.
var topology = []string{"nats1", "nats2", "nats3", "redis", "eventkeys", "issuer1", "issuer2", "demo1", "demo2"}

func TestComposeFileMatchesTopology(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(b), "\nservices:\n")
	if !ok {
		t.Fatal("docker-compose.yml has no services: section")
	}
	body, _, _ = strings.Cut(body, "\nvolumes:")
	// Services under an optional profile (observability) are not part of the topology.
	var names []string
	heads := regexp.MustCompile(`(?m)^  ([a-z0-9]+):\s*$`).FindAllStringSubmatchIndex(body, -1)
	for i, h := range heads {
		end := len(body)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		if !strings.Contains(body[h[1]:end], "\n    profiles:") {
			names = append(names, body[h[2]:h[3]])
		}
	}
	if !slices.Equal(names, topology) {
		t.Fatalf("docker-compose.yml services %v, topology test %v: change both together", names, topology)
	}
	for _, want := range []string{"REVOCAST_NATS: nats://nats1:4222\n", "REVOCAST_NATS: nats://nats3:4222\n", "--appendfsync\", \"always",
		"deploy/nats.conf", "deploy/redis-users.acl", "REVOCAST_NATS_USER: issuer\n", "REVOCAST_NATS_USER: subscriber\n",
		"redis://issuer:", "redis://subscriber:", "REVOCAST_EVENT_KEY:", "REVOCAST_TRUSTED_EVENT_KEYS:"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("docker-compose.yml lacks %q, which the topology test assumes", want)
		}
	}
}

// proc is one real revocast process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(t.TempDir(), args[0]+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// TestComposeTopology runs the compose topology as processes on loopback with the real binary: it
// walks through login → whoami → logout on both issuers and both demo services, stops one NATS node
// and one issuer mid-way (kill -9), and checks every demo service rejects every revoked token.
func TestComposeTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts eight servers")
	}
	bin := filepath.Join(t.TempDir(), "revocast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// As in docker-compose.yml: the shipped NATS users, Redis ACL users and signed events.
	t.Setenv("REVOCAST_NATS_ISSUER_PASSWORD", "issuer-secret")
	t.Setenv("REVOCAST_NATS_SUBSCRIBER_PASSWORD", "subscriber-secret")
	cluster := testenv.StartCluster(t, 3, testenv.NATSOptions{ConfigFile: "../../deploy/nats.conf"})
	acl, _ := filepath.Abs("../../deploy/redis-users.acl")
	redis := testenv.StartRedis(t, testenv.RedisOptions{AOF: true, AppendFsync: "always", Args: []string{"--aclfile", acl}})
	dir := t.TempDir()
	users := writeUsers(t, dir)
	keys := filepath.Join(dir, "keys")
	eventKeys := filepath.Join(dir, "event-keys")
	if code, _, stderr := runCmd(t, "", "event-key", "--dir", eventKeys, "--kid", "events-1", "--if-missing"); code != 0 {
		t.Fatalf("event-key: %s", stderr)
	}
	port := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	env := func(natsURL, user string) []string {
		return []string{"REVOCAST_NATS=" + natsURL, "REVOCAST_NATS_USER=" + user, "REVOCAST_NATS_PASSWORD=" + user + "-secret",
			"REVOCAST_REDIS=redis://" + user + ":" + user + "-secret@" + redis.Addr + "/0"}
	}
	issuerEnv := append(env(cluster.URLs(), "issuer"), "REVOCAST_EVENT_KEY="+filepath.Join(eventKeys, "events-1.pem"))
	demoEnv := func(natsURL string) []string {
		return append(env(natsURL, "subscriber"), "REVOCAST_TRUSTED_EVENT_KEYS="+filepath.Join(eventKeys, "events-1.pub.pem"))
	}
	issuerAddrs := []string{port(), port()}
	var issuers []*proc
	for _, a := range issuerAddrs {
		issuers = append(issuers, startProc(t, bin, issuerEnv, "issuer", "--http", a, "--keys", keys, "--users", users, "--insecure-cookies"))
		waitHTTP(t, "http://"+a+"/readyz")
	}
	demoAddrs := []string{port(), port()}
	startProc(t, bin, demoEnv(cluster.Nodes[0].URL()), "demo-service", "--http", demoAddrs[0], "--jwks", "http://"+issuerAddrs[0]+"/.well-known/jwks.json")
	startProc(t, bin, demoEnv(cluster.Nodes[2].URL()), "demo-service", "--http", demoAddrs[1], "--jwks", "http://"+issuerAddrs[1]+"/.well-known/jwks.json")
	for _, a := range demoAddrs {
		waitHTTP(t, "http://"+a+"/readyz")
	}

	c := client{t}
	var revoked []string
	// walk logs in at an issuer, checks the token at both demo services, logs out, and records it.
	walk := func(issuer string) {
		t.Helper()
		code, login := c.do("POST", "http://"+issuer+"/v1/login", "", `{"username":"alice","password":"revocast"}`)
		if code != 200 {
			t.Fatalf("login at %s: %d %v", issuer, code, login)
		}
		tok := login["access_token"].(string)
		for _, d := range demoAddrs {
			if code, who := c.do("GET", "http://"+d+"/whoami", tok, ""); code != 200 {
				t.Fatalf("whoami at %s: %d %v", d, code, who)
			}
		}
		if code, body := c.do("POST", "http://"+issuer+"/v1/logout", tok, ""); code != 204 {
			t.Fatalf("logout at %s: %d %v", issuer, code, body)
		}
		revoked = append(revoked, tok)
	}
	checkAllRejected := func(when string) {
		t.Helper()
		testenv.WaitFor(t, 15*time.Second, func() error {
			for _, d := range demoAddrs {
				for i, tok := range revoked {
					if code, _ := c.do("GET", "http://"+d+"/whoami", tok, ""); code != 401 {
						return fmt.Errorf("%s: demo %s accepts revoked token %d (%d)", when, d, i, code)
					}
				}
			}
			return nil
		})
	}
	walk(issuerAddrs[0])
	walk(issuerAddrs[1])
	checkAllRejected("before any fault")

	cluster.Nodes[0].Shutdown()      // demo 1's only NATS node: it must fall back to the store
	issuers[0].stop(syscall.SIGKILL) // kill -9 an issuer: the other one carries on
	for i := 0; i < 3; i++ {
		walk(issuerAddrs[1])
	}
	checkAllRejected("with a NATS node and an issuer down")
}
