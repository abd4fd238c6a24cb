package p2p_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/tessera-net/tessera/p2p"
)

// Two hosts on 127.0.0.1: the server answers an echo protocol, the client
// dials the server's printed address and sends it a message.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// With DataDir set, the identity would persist in DataDir/identity.key;
	// without it, each host gets an ephemeral one.
	server, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	server.Handle("/tessera/example-echo/1.0.0", func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s) // echo until the client closes its side
	})

	client, err := p2p.New(ctx, p2p.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// Addrs()[0] is the TCP address, /ip4/127.0.0.1/tcp/PORT/p2p/ID; the
	// QUIC one, /ip4/127.0.0.1/udp/PORT/quic-v1/p2p/ID, follows.
	peerID, err := client.Connect(ctx, server.Addrs()[0])
	if err != nil {
		log.Fatal(err)
	}
	s, err := client.OpenStream(ctx, peerID, "/tessera/example-echo/1.0.0")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write([]byte("hello, tessera")); err != nil {
		log.Fatal(err)
	}
	s.CloseWrite()
	reply, err := io.ReadAll(s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	// Output: hello, tessera
}
