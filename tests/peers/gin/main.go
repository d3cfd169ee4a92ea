// gin-magic: a re-creation of the Go/Gin magic-link demo that magicd grew
// from, kept as the reference magicd's benchmark compares itself with
// (tools/bench-box.sh runs both in the same cgroup, one after the other).
//
// It is the demo as published, not an improved version: gin.Default()'s
// middleware (the request logger writing a line per request to stdout, and
// the panic recovery), html/template pages, keys made at random at every
// start, the link sealed with AES-GCM and shown in the generate answer,
// pprof on :6060 through net/http/pprof, GOMAXPROCS=1 from the environment
// (the article's container). Routes:
//
//	GET  /                      home page
//	GET  /login                 CSRF token in <meta name="csrf-token">, no-cache headers
//	POST /magic/generate        X-CSRF-Token header + form field email: a fragment with
//	                            the link /magic/verify/<token>
//	GET  /magic/verify/:magic   "Checking authorization..." page
//	POST /magic/verify/:magic   opens the token, compares its CSRF binding, sets the session
//	GET  /secure/:id, POST /secure/:id
//	GET  /healthz               {"status":"ok"}
//	/static/*                   files from -static DIR
//
// Flags: -listen 127.0.0.1:8080, -pprof 127.0.0.1:6060 ("" = off),
// -static DIR. It uses only what Debian packages (golang-github-gin-gonic-gin-dev)
// and builds offline with GO111MODULE=off and GOPATH=/usr/share/gocode
// (tests/peers/gin/build.sh).
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"html/template"
	"log"
	"net/http"
	_ "net/http/pprof"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

const page = `{{define "login"}}<!doctype html>
<html><head><meta charset="utf-8"><meta name="csrf-token" content="{{.CSRF}}">
<title>Sign in</title><script src="/static/csrf.js"></script></head>
<body><h1>Sign in</h1><form id="login"><input name="email" type="email">
<button>Send me a link</button></form><div id="result"></div></body></html>{{end}}
{{define "index"}}<!doctype html><html><head><meta charset="utf-8"><title>Magic links</title></head>
<body><a href="/login">Sign in</a></body></html>{{end}}
{{define "sent"}}<div class="sent"><p>A sign-in link for {{.Email}} is valid for 15 minutes.</p>
<p><a id="magic-link" href="/magic/verify/{{.Token}}">open your sign-in link</a></p></div>{{end}}
{{define "verify"}}<!doctype html><html><head><meta charset="utf-8"><title>Checking authorization...</title>
<script src="/static/csrf.js"></script></head><body><p>Checking authorization...</p></body></html>{{end}}
{{define "secure"}}<!doctype html><html><head><meta charset="utf-8"><title>Secure {{.ID}}</title></head>
<body><p>Checking authorization for page {{.ID}}...</p></body></html>{{end}}`

type claims struct {
	Email string `json:"email"`
	CSRF  string `json:"csrf"`
	Exp   int64  `json:"exp"`
}

type app struct {
	aead cipher.AEAD
}

func newApp() *app {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		log.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		log.Fatal(err)
	}
	return &app{aead: aead}
}

func (a *app) seal(c claims) (string, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(a.aead.Seal(nonce, nonce, plain, nil)), nil
}

func (a *app) open(tok string) (claims, bool) {
	var c claims
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < a.aead.NonceSize() {
		return c, false
	}
	plain, err := a.aead.Open(nil, raw[:a.aead.NonceSize()], raw[a.aead.NonceSize():], nil)
	if err != nil || json.Unmarshal(plain, &c) != nil {
		return c, false
	}
	return c, true
}

func csrfToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func noCache(c *gin.Context) {
	c.Header("Cache-Control", "no-cache, no-store, must-revalidate")
	c.Header("Pragma", "no-cache")
	c.Header("Expires", "0")
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve the app on")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "pprof address (empty: off)")
	static := flag.String("static", "html/static", "directory served under /static")
	flag.Parse()

	if *pprofAddr != "" {
		go func() {
			srv := &http.Server{Addr: *pprofAddr, ReadTimeout: 5 * time.Second,
				WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
			if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				log.Fatalf("pprof server failed: %v", err)
			}
		}()
	}

	gin.SetMode(gin.ReleaseMode)
	a := newApp()
	r := gin.Default() // Logger + Recovery, as the demo had
	r.SetHTMLTemplate(template.Must(template.New("pages").Parse(page)))
	r.Static("/static", *static)

	r.GET("/", func(c *gin.Context) { c.HTML(http.StatusOK, "index", nil) })
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/login", func(c *gin.Context) {
		noCache(c)
		c.HTML(http.StatusOK, "login", gin.H{"CSRF": csrfToken()})
	})
	r.POST("/magic/generate", func(c *gin.Context) {
		csrf := c.GetHeader("X-CSRF-Token")
		if csrf == "" {
			c.String(http.StatusBadRequest, "missing CSRF token")
			return
		}
		email := strings.TrimSpace(c.PostForm("email"))
		sum := sha256.Sum256([]byte(csrf))
		tok, err := a.seal(claims{Email: email, CSRF: hex.EncodeToString(sum[:]),
			Exp: time.Now().Add(15 * time.Minute).Unix()})
		if err != nil {
			c.String(http.StatusInternalServerError, "could not create a link")
			return
		}
		c.HTML(http.StatusOK, "sent", gin.H{"Email": email, "Token": tok})
	})
	r.GET("/magic/verify/:magic", func(c *gin.Context) { c.HTML(http.StatusOK, "verify", nil) })
	r.POST("/magic/verify/:magic", func(c *gin.Context) {
		cl, ok := a.open(c.Param("magic"))
		sum := sha256.Sum256([]byte(c.GetHeader("X-CSRF-Token")))
		if !ok || cl.CSRF != hex.EncodeToString(sum[:]) || time.Now().Unix() > cl.Exp {
			c.String(http.StatusForbidden, "invalid link")
			return
		}
		sess, err := a.seal(claims{Email: cl.Email, Exp: time.Now().Add(time.Hour).Unix()})
		if err != nil {
			c.String(http.StatusInternalServerError, "could not create a session")
			return
		}
		c.SetCookie("session", sess, 3600, "/", "", false, true)
		c.Redirect(http.StatusSeeOther, "/secure/1")
	})
	r.GET("/secure/:id", func(c *gin.Context) { c.HTML(http.StatusOK, "secure", gin.H{"ID": c.Param("id")}) })
	r.POST("/secure/:id", func(c *gin.Context) {
		s, err := c.Cookie("session")
		cl, ok := a.open(s)
		if err != nil || !ok || time.Now().Unix() > cl.Exp {
			c.Redirect(http.StatusSeeOther, "/login")
			return
		}
		c.String(http.StatusOK, "protected content for %s", cl.Email)
	})
	if err := r.Run(*listen); err != nil {
		log.Fatal(err)
	}
}
