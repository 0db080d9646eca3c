// Command relay is the floor reference of the sysbench harness: a plain
// TCP relay that copies bytes both ways and understands nothing. Every
// proxy pays at least what it pays for the extra hop.
//
// With several targets (-target a,b) it hands each accepted connection to
// the next one in turn, like a layer-4 balancer: the floor of reading from
// the replicas rather than from the primary.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6034", "address to accept clients on")
	target := flag.String("target", "127.0.0.1:3316", "server to relay to; several, comma-separated, take connections in turn")
	flag.Parse()
	targets := strings.Split(*target, ",")
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for n := 0; ; n++ {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go relay(c, targets[n%len(targets)])
	}
}

func relay(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
}
