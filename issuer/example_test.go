package issuer_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/revocast/revocast/issuer"
)

func ExampleHashPassword() {
	h, err := issuer.HashPassword("correct horse battery staple", issuer.HashParams{})
	if err != nil {
		panic(err)
	}
	fmt.Println(h[:30])
	// Output: $argon2id$v=19$m=19456,t=2,p=1
}

// ExampleNew serves the issuer and logs in. In production, Sessions is
// redissession.New(redisstore.NewSessions(client)) and Revoker a *revoker.Revoker.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "issuer-example")
	defer os.RemoveAll(dir)
	hash, _ := issuer.HashPassword("alice-pw", issuer.HashParams{Memory: 64, Time: 1})
	users := filepath.Join(dir, "users.json")
	os.WriteFile(users, []byte(`{"users":[{"username":"alice","password_hash":"`+hash+`","roles":["admin"]}]}`), 0o600)

	is, err := issuer.New(issuer.Config{
		KeysDir:      filepath.Join(dir, "keys"), // a new Ed25519 key is generated here
		Users:        users,
		PasswordHash: issuer.HashParams{Memory: 64, Time: 1},
		Sessions:     newMemStore(),
		Revoker:      &memRevoker{},
	})
	if err != nil {
		panic(err)
	}
	defer is.Close()
	srv := httptest.NewServer(is)
	defer srv.Close()

	res, err := http.Post(srv.URL+"/v1/login", "application/json", strings.NewReader(`{"username":"alice","password":"alice-pw"}`))
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var body struct {
		TokenType string `json:"token_type"`
		ExpiresIn int    `json:"expires_in"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	fmt.Println(res.StatusCode, body.TokenType, body.ExpiresIn)
	// Output: 200 Bearer 300
}
