// Peer: Go's standard library, net/http/fcgi (FastCGI) or net/http (HTTP), with the bench routes.
//
//	go build -o server . && ./server -mode fcgi|http -listen unix:/path|host:port
//
// Prints READY when listening. GOMAXPROCS is left at its default (all cores).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"strings"
)

var (
	hello = []byte("Hello, World!\n")
	big   = bytes.Repeat([]byte("x"), 1<<20)
)

func handler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/echo":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	case "/upload":
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%d\n", n)
	case "/big":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", "1048576")
		w.Write(big)
	case "/params":
		// FastCGI: the CGI params; HTTP: the headers.
		n := len(r.Header)
		if env := fcgi.ProcessEnv(r); env != nil {
			n = len(env) + len(r.Header)
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%d\n", n)
	default:
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	}
}

func main() {
	mode := flag.String("mode", "fcgi", "fcgi or http")
	listen := flag.String("listen", "127.0.0.1:9000", "unix:/path or host:port")
	flag.Parse()
	var ln net.Listener
	var err error
	if strings.HasPrefix(*listen, "unix:") || strings.Contains(*listen, "/") {
		path := strings.TrimPrefix(*listen, "unix:")
		os.Remove(path)
		ln, err = net.Listen("unix", path)
	} else {
		ln, err = net.Listen("tcp", *listen)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("READY go-" + *mode)
	h := http.HandlerFunc(handler)
	if *mode == "http" {
		err = (&http.Server{Handler: h}).Serve(ln)
	} else {
		err = fcgi.Serve(ln, h)
	}
	log.Fatal(err)
}
