package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func init() {
	register(command{name: "healthcheck", summary: "GET a URL and exit 0 on 200 (for container healthchecks)", run: runHealthcheck})
}

func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "GET --url and exit 0 on 200, 2 otherwise", stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "URL to check")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("invalid --url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unreachable: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, resp.Status)
	}
	return nil
}
