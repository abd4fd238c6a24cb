package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/kernels"
	"github.com/tessera-net/tessera/quant"
)

// TestBitsAcrossMachines pins every CPU to the same bits: it hashes the
// hidden states and logits of a prefill and decode steps through a small
// model of every weight type. With TESSERA_BITS_FILE set it writes the
// hashes to that file, or, if the file exists, compares with it: CI runs
// it natively and then, on the same file, under qemu as arm64 and as x86
// levels without AVX-512 or AVX2, so any machine that computes other bits
// (a fused multiply-add, a kernel level that rounds differently) fails.
func TestBitsAcrossMachines(t *testing.T) {
	forcedParallel(t)
	var lines []string
	for _, typ := range quant.Supported {
		f := synthModelFile(t, typ)
		pool := kernels.NewPool(2)
		m, err := Load(f, Options{Layers: Range{0, 2}, Client: true, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		h := prefillDecode(t, m)
		logits := make([]float32, m.Config.Vocab)
		if err := m.Head(logits, h[len(h)-m.Config.Dim:]); err != nil {
			t.Fatal(err)
		}
		pool.Close()
		sum := sha256.New()
		for _, v := range append(h, logits...) {
			_ = binary.Write(sum, binary.LittleEndian, v)
		}
		lines = append(lines, typ.String()+" "+hex.EncodeToString(sum.Sum(nil)))
	}
	got := strings.Join(lines, "\n") + "\n"
	path := os.Getenv("TESSERA_BITS_FILE")
	if path == "" {
		t.Skip("TESSERA_BITS_FILE not set: nothing to compare with")
	}
	want, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (kernel level %s)", path, kernels.Level())
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatalf("kernel level %s computes other bits than the machine that wrote %s:\ngot\n%swant\n%s", kernels.Level(), path, got, want)
	}
}
