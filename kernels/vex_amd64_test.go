//go:build amd64 && !purego

package kernels

import (
	"bufio"
	"bytes"
	"debug/elf"
	"debug/gosym"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestAVXVNNIKernelsAreVEX disassembles this test binary's assembly
// functions of the avxvnni level (names ending in AVXVNNI) and fails on
// any EVEX-encoded (AVX-512) instruction in them: the level is for CPUs
// with AVX-VNNI but without AVX-512, which fault on those, and neither
// this machine (which has both) nor qemu (which has neither) would
// notice. Each must use a VEX VNNI instruction (VPDPBUSD or VPDPWSSD),
// which also shows that the disassembler decodes them. The functions'
// address ranges come from the Go line table (go test strips the ELF
// symbols); the decoding needs GNU objdump, and the test is skipped
// without it.
func TestAVXVNNIKernelsAreVEX(t *testing.T) {
	if raceEnabled {
		t.Skip("the race-instrumented binary is larger; the assembly is the same")
	}
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump not found")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	type span struct {
		name       string
		entry, end uint64
		vnni       int // VEX VNNI instructions seen
	}
	var spans []*span
	{
		f, err := elf.Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		pcln, err := f.Section(".gopclntab").Data()
		if err != nil {
			t.Fatal(err)
		}
		tab, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, f.Section(".text").Addr))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, fn := range tab.Funcs {
			if strings.HasSuffix(fn.Name, "AVXVNNI") && strings.HasPrefix(fn.BaseName(), "q") { // the assembly, not the Go helpers
				spans = append(spans, &span{name: fn.Name, entry: fn.Entry, end: fn.End})
			}
		}
	}
	if len(spans) < 10 {
		t.Fatalf("found %d avxvnni assembly functions in %s, want at least 10", len(spans), exe)
	}
	out, err := exec.Command(objdump, "-d", exe).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20) // symbol lines can be long
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t") // "  addr:", "bytes", "instruction"
		if len(f) < 3 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		addr, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(f[0], ":")), 16, 64)
		if err != nil {
			continue
		}
		for _, s := range spans {
			if addr < s.entry || addr >= s.end {
				continue
			}
			if strings.HasPrefix(f[1], "62 ") {
				t.Errorf("%s: EVEX instruction %s (%s)", s.name, f[2], strings.TrimSpace(f[1]))
			}
			if strings.HasPrefix(f[2], "{vex} vpdp") {
				s.vnni++
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range spans {
		if s.vnni == 0 {
			t.Errorf("%s: no VEX VPDPBUSD/VPDPWSSD", s.name)
		}
	}
	t.Logf("%d avxvnni functions, VEX only", len(spans))
}
