// Command hello is the smallest paved app: it answers HTTP on $PORT and
// says which instance answered, so you can watch the router balance.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	instance := os.Getenv("PAVED_INSTANCE")
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello from paved"
	}
	// A 1 KiB body, the size the router benchmark uses.
	kib := strings.Repeat("x", 1024)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/kib", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, kib)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (instance %s)\n", greeting, instance)
	})
	log.Printf("hello: instance %s listening on 127.0.0.1:%s", instance, port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, mux))
}
