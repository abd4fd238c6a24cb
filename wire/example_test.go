package wire_test

import (
	"bufio"
	"bytes"
	"fmt"
	"log"

	"github.com/tessera-net/tessera/wire"
)

// A client opens a session and forwards two positions of a 4-wide hidden
// state in float16; the node reads the messages off the stream.
func Example() {
	var stream bytes.Buffer // stands for a libp2p stream under wire.ProtocolID

	open := &wire.OpenSession{
		Version:      wire.Version,
		ModelCommit:  [32]byte{0xab},
		First:        2,
		Last:         4,
		MaxPositions: 256,
		DType:        wire.DTypeF16,
	}
	hidden := []float32{0.5, -1, 2.25, 0.1, 3, 0, -0.75, 1e-3}
	payload, err := wire.EncodeHidden(nil, wire.DTypeF16, hidden, 2, 4)
	if err != nil {
		log.Fatal(err)
	}
	fwd := &wire.Forward{SessionID: 1, Step: 0, Start: 0, N: 2, Payload: payload}
	for _, m := range []wire.Message{open, fwd, &wire.CloseSession{}} {
		if err := wire.WriteMessage(&stream, m); err != nil {
			log.Fatal(err)
		}
	}

	r := bufio.NewReader(&stream)
	for {
		m, err := wire.ReadMessage(r, 1<<20)
		if err != nil {
			break // io.EOF at the end of the stream
		}
		switch m := m.(type) {
		case *wire.OpenSession:
			fmt.Printf("open layers %d:%d, %d positions, %s\n", m.First, m.Last, m.MaxPositions, m.DType)
		case *wire.Forward:
			got := make([]float32, m.N*4)
			if err := wire.DecodeHidden(got, wire.DTypeF16, m.Payload, m.N, 4); err != nil {
				log.Fatal(err)
			}
			fmt.Printf("forward step %d, positions %d..%d, %d payload bytes: %v\n", m.Step, m.Start, m.Start+m.N-1, len(m.Payload), got)
		case *wire.CloseSession:
			fmt.Println("close")
		}
	}
	// Output:
	// open layers 2:4, 256 positions, f16
	// forward step 0, positions 0..1, 16 payload bytes: [0.5 -1 2.25 0.099975586 3 0 -0.75 0.0010004044]
	// close
}
