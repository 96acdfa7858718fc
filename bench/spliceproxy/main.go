// Command spliceproxy is a TCP relay that copies bytes between each client
// connection and its own backend connection without reading HTTP at all,
// with a goroutine per direction. What it costs is the price of a second
// hop (two more socket reads and writes per request) on shared cores, with
// Go's netpoller and scheduler in the way: an HTTP proxy built the same
// way costs more; one that waits in its own epoll loop (the router's event
// loops, nginx) can cost less.
package main

import (
	"flag"
	"io"
	"log"
	"net"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	backend := flag.String("backend", "", "host:port to relay to")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go relay(c, *backend)
	}
}

func relay(client net.Conn, backend string) {
	defer client.Close()
	b, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	// Either side's error ends its direction, as its EOF would.
	go func() { _, _ = io.Copy(b, client); _ = b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, b); _ = client.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}
