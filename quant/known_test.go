package quant

import (
	"encoding/binary"
	"math"
	"testing"
)

// Hand-built blocks whose decoded values are derived in the test from the
// ggml block layouts, independently of the decoder. Each case lists every
// value (legacy types) or spot-checks worked out by hand (K-quants), so a
// wrong nibble, bit or byte order fails.

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func seqBytes(n int, f func(i int) byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = f(i)
	}
	return b
}

func seqFloats(n int, f func(i int) float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

const (
	h1     = 0x3c00 // 1.0
	hHalf  = 0x3800 // 0.5
	hQuart = 0x3400 // 0.25
	hMinus = 0xbc00 // -1.0
)

// nibbles j | (15-j)<<4: low nibble j, high nibble 15-j.
var q4qs = seqBytes(16, func(j int) byte { return byte(j) | byte(15-j)<<4 })

// nibbles j | j<<4 for the 5-bit types, with qh = 0x00f0000f: fifth bit set
// for values 0..3 (bits 0-3) and 20..23 (bits 20-23).
var q5qs = seqBytes(16, func(j int) byte { return byte(j) | byte(j)<<4 })

const q5qh = 0x00f0000f

func TestDequantizeKnownLegacy(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		blk  []byte
		want []float32
	}{
		{
			name: "q4_0 d=0.5",
			typ:  Q4_0,
			blk:  cat(le16(hHalf), q4qs),
			// low nibbles j -> (j-8)/2; high nibbles 15-j -> (7-j)/2
			want: []float32{-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5,
				3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4},
		},
		{
			name: "q4_1 d=0.5 m=-1",
			typ:  Q4_1,
			blk:  cat(le16(hHalf), le16(hMinus), q4qs),
			want: []float32{-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5,
				6.5, 6, 5.5, 5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1},
		},
		{
			name: "q5_0 d=1",
			typ:  Q5_0,
			blk:  cat(le16(h1), le32(q5qh), q5qs),
			// q = j (+16 for values 0..3 and 20..23), x = q-16
			want: []float32{0, 1, 2, 3, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
				-16, -15, -14, -13, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1},
		},
		{
			name: "q5_1 d=0.5 m=1",
			typ:  Q5_1,
			blk:  cat(le16(hHalf), le16(h1), le32(q5qh), q5qs),
			// x = q/2 + 1 with q as for q5_0
			want: []float32{9, 9.5, 10, 10.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5,
				1, 1.5, 2, 2.5, 11, 11.5, 12, 12.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5},
		},
		{
			name: "q8_0 d=0.25",
			typ:  Q8_0,
			blk:  cat(le16(hQuart), seqBytes(32, func(j int) byte { return byte(8*j - 128) })),
			want: seqFloats(32, func(j int) float32 { return float32(2*j - 32) }),
		},
		{
			name: "q8_1 d=0.5 (s ignored)",
			typ:  Q8_1,
			blk:  cat(le16(hHalf), le16(0x4000), seqBytes(32, func(j int) byte { return byte(j - 16) })),
			want: seqFloats(32, func(j int) float32 { return float32(j-16) / 2 }),
		},
		{
			name: "f32",
			typ:  F32,
			blk:  []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0xc0, 0x7f},
			want: []float32{1, -2, float32(math.NaN())},
		},
		{
			name: "f16",
			typ:  F16,
			blk:  []byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00},
			want: []float32{1, -2, 65504, 0x1p-24},
		},
		{
			name: "bf16",
			typ:  BF16,
			blk:  []byte{0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40},
			want: []float32{1, -2, 3.140625},
		},
		{
			name: "q8_k d=0.25",
			typ:  Q8_K,
			blk: cat(le32(math.Float32bits(0.25)), seqBytes(256, func(i int) byte { return byte(i - 128) }),
				make([]byte, 32)),
			want: seqFloats(256, func(i int) float32 { return float32(i-128) / 4 }),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n, _ := tc.typ.RowBytes(len(tc.want)); n != len(tc.blk) {
				t.Fatalf("test block has %d bytes, want %d", len(tc.blk), n)
			}
			got := make([]float32, len(tc.want))
			if err := Dequantize(tc.typ, got, tc.blk); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if !sameFloat(got[i], tc.want[i]) {
					t.Errorf("value %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func sameFloat(a, b float32) bool {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return math.IsNaN(float64(a)) && math.IsNaN(float64(b))
	}
	return a == b
}

// K-quant scales and mins used by the Q4_K/Q5_K known blocks, and their
// packing into 12 bytes, worked by hand:
//
//	sc = 1 2 3 4 33 46 63 17      m = 5 6 7 8 9 20 35 60
//	bytes 0-3:  sc[0..3] | (sc[4..7]>>4)<<6 = 0x81 0x82 0xc3 0x44
//	bytes 4-7:  m[0..3]  | (m[4..7]>>4)<<6  = 0x05 0x46 0x87 0xc8
//	bytes 8-11: sc[4..7]&15 | (m[4..7]&15)<<4 = 0x91 0x4e 0x3f 0xc1
var (
	kScales = [8]uint8{1, 2, 3, 4, 33, 46, 63, 17}
	kMins   = [8]uint8{5, 6, 7, 8, 9, 20, 35, 60}
	kPacked = []byte{0x81, 0x82, 0xc3, 0x44, 0x05, 0x46, 0x87, 0xc8, 0x91, 0x4e, 0x3f, 0xc1}
)

func TestScaleMinK4(t *testing.T) {
	for j := 0; j < 8; j++ {
		sc, m := UnpackScaleMinK4(j, kPacked)
		if sc != kScales[j] || m != kMins[j] {
			t.Errorf("UnpackScaleMinK4(%d) = (%d, %d), want (%d, %d)", j, sc, m, kScales[j], kMins[j])
		}
	}
	got := make([]byte, 12)
	PackScaleMinK4(got, &kScales, &kMins)
	for i := range got {
		if got[i] != kPacked[i] {
			t.Errorf("PackScaleMinK4 byte %d = %#02x, want %#02x", i, got[i], kPacked[i])
		}
	}
}

// k4qs byte p: low nibble p%16, high nibble (7p+3)%16.
var k4qs = seqBytes(128, func(p int) byte { return byte(p%16) | byte((7*p+3)%16)<<4 })

func TestDequantizeKnownQ4K(t *testing.T) {
	// d = 1, dmin = 0.5. Value i: sub-block j = i/32, byte p = 32*(j/2) + i%32,
	// low nibble for even j, high for odd; x = sc[j]*q - m[j]/2.
	blk := cat(le16(h1), le16(hHalf), kPacked, k4qs)
	want := map[int]float32{
		0:   -2.5,  // j=0 p=0 q=0:        1*0 - 2.5
		37:  9,     // j=1 p=5 q=(38)%16=6: 2*6 - 3
		141: 424.5, // j=4 p=77 q=13:      33*13 - 4.5
		170: 404,   // j=5 p=74 q=521%16=9: 46*9 - 10
		200: 486.5, // j=6 p=104 q=8:      63*8 - 17.5
		255: 174,   // j=7 p=127 q=892%16=12: 17*12 - 30
	}
	checkKnown(t, Q4_K, blk, want)
}

func TestDequantizeKnownQ5K(t *testing.T) {
	// As Q4_K, plus the fifth bit of value i is bit j of qh[i%32].
	qh := make([]byte, 32)
	qh[5], qh[13], qh[31] = 0xa6, 0x5a, 0x80 // 1010_0110, 0101_1010, 1000_0000
	blk := cat(le16(h1), le16(hHalf), kPacked, qh, k4qs)
	want := map[int]float32{
		5:   2.5,   // j=0 l=5 bit0 of a6=0, q=5:         1*5 - 2.5
		37:  41,    // j=1 l=5 bit1=1, q=6+16=22:         2*22 - 3
		109: 116,   // j=3 l=13 p=45 q=14, bit3 of 5a=1:   4*30 - 4
		141: 952.5, // j=4 l=13 q=13, bit4 of 5a=1:       33*29 - 4.5
		197: 297.5, // j=6 l=5 p=101 q=5, bit6 of a6=0:   63*5 - 17.5
		229: 344,   // j=7 l=5 p=101 q=6, bit7 of a6=1:   17*22 - 30
		255: 446,   // j=7 l=31 q=12, bit7 of 80=1:       17*28 - 30
	}
	checkKnown(t, Q5_K, blk, want)
}

func TestDequantizeKnownQ6K(t *testing.T) {
	// d = 0.5 (last field). Value i: half h = i/128, quarter r = (i%128)/32,
	// l = i%32; low 4 bits in ql[64h + l + 32(r%2)] (low nibble r<2, high
	// r>=2), top 2 bits = bits 2r..2r+1 of qh[32h + l]; x = d*sc[i/16]*(q-32).
	ql := make([]byte, 128)
	qh := make([]byte, 64)
	ql[0], qh[0] = 0x9a, 0xe4 // qh[0] = 11_10_01_00
	ql[32] = 0x3c
	ql[71], qh[39] = 0xf0, 0x30
	ql[113], qh[49] = 0x05, 0x08
	scales := []int8{1, -2, 3, -4, 5, 6, 7, 8, -9, 10, 11, 12, 13, 14, 15, -128}
	sc := seqBytes(16, func(i int) byte { return byte(scales[i]) })
	blk := cat(ql, qh, sc, le16(hHalf))
	want := map[int]float32{
		0:   -11,   // r=0: lo=a, hi=0 -> q=10-32=-22; 0.5*1*-22
		1:   -16,   // all zero bits -> q=-32; 0.5*1*-32
		16:  32,    // q=-32, sc[1]=-2
		32:  -6,    // r=1: lo=c, hi=1 -> 12+16-32=-4; 0.5*3*-4
		64:  22.5,  // r=2: lo=9, hi=2 -> 9+32-32=9; 0.5*5*9
		96:  66.5,  // r=3: lo=3, hi=3 -> 3+48-32=19; 0.5*7*19
		177: 30,    // h=1 r=1 l=17: lo=5 (ql[113]), hi=2 (qh[49]) -> 5; 0.5*12*5
		199: 201.5, // h=1 r=2 l=7: lo=f (ql[71]>>4), hi=3 (qh[39]) -> 31; 0.5*13*31
		255: 2048,  // q=-32, sc[15]=-128: 0.5*-128*-32
	}
	checkKnown(t, Q6_K, blk, want)
}

func checkKnown(t *testing.T, typ Type, blk []byte, want map[int]float32) {
	t.Helper()
	if len(blk) != typ.BlockBytes() {
		t.Fatalf("test block has %d bytes, want %d", len(blk), typ.BlockBytes())
	}
	got := make([]float32, QKK)
	if err := Dequantize(typ, got, blk); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("%v value %d = %v, want %v", typ, i, got[i], w)
		}
	}
}

// TestDequantizeBitwise decodes random blocks of every block type and
// compares each value with a decoder written per value from bit positions
// (value i's bits located directly rather than by loops over bytes).
func TestDequantizeBitwise(t *testing.T) {
	types := []Type{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K}
	seed := uint64(1)
	next := func() byte {
		seed = seed*6364136223846793005 + 1442695040888963407
		return byte(seed >> 56)
	}
	for _, typ := range types {
		for trial := 0; trial < 20; trial++ {
			blk := seqBytes(typ.BlockBytes(), func(int) byte { return next() })
			// Keep the float16/float32 scale fields finite and moderate.
			for _, off := range scaleOffsets(typ) {
				blk[off+1] &= 0x3f
			}
			if typ == Q8_K {
				binary.LittleEndian.PutUint32(blk, math.Float32bits(float32(next())/64))
			}
			got := make([]float32, typ.BlockSize())
			if err := Dequantize(typ, got, blk); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				want := bitwiseValue(typ, blk, i)
				if d := math.Abs(float64(got[i]) - want); d > 1e-6*math.Max(1, math.Abs(want)) {
					t.Fatalf("%v trial %d value %d = %v, want %v", typ, trial, i, got[i], want)
				}
			}
		}
	}
}

// scaleOffsets are the byte offsets of the float16 fields of a block.
func scaleOffsets(typ Type) []int {
	switch typ {
	case Q4_0, Q5_0, Q8_0:
		return []int{0}
	case Q4_1, Q5_1, Q8_1, Q4_K, Q5_K:
		return []int{0, 2}
	case Q6_K:
		return []int{208}
	}
	return nil
}

func bit(b []byte, n int) int { return int(b[n/8]>>(n%8)) & 1 }

// bits reads an n-bit little-endian field starting at bit position pos.
func bits(b []byte, pos, n int) int {
	v := 0
	for k := 0; k < n; k++ {
		v |= bit(b, pos+k) << k
	}
	return v
}

func half(b []byte, off int) float64 { return float64(FP16ToFP32(binary.LittleEndian.Uint16(b[off:]))) }

// bitwiseValue decodes value i of a block from first principles.
func bitwiseValue(typ Type, b []byte, i int) float64 {
	// nib4 is the 4-bit quant of value i (0..31) in a 16-byte qs at byte off:
	// byte i%16, nibble i/16.
	nib4 := func(off int) int { return bits(b, 8*off+8*(i%16)+4*(i/16), 4) }
	switch typ {
	case Q4_0:
		return float64(nib4(2)-8) * half(b, 0)
	case Q4_1:
		return float64(nib4(4))*half(b, 0) + half(b, 2)
	case Q5_0:
		return float64(nib4(6)+16*bit(b, 8*2+i)-16) * half(b, 0)
	case Q5_1:
		return float64(nib4(8)+16*bit(b, 8*4+i))*half(b, 0) + half(b, 2)
	case Q8_0:
		return float64(int8(b[2+i])) * half(b, 0)
	case Q8_1:
		return float64(int8(b[4+i])) * half(b, 0)
	case Q8_K:
		return float64(int8(b[4+i])) * float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case Q4_K, Q5_K:
		j, l := i/32, i%32
		// 6-bit scale/min of sub-block j, straight from the bit fields.
		var sc, m int
		if j < 4 {
			sc, m = bits(b, 8*(4+j), 6), bits(b, 8*(8+j), 6)
		} else {
			sc = bits(b, 8*(12+j-4), 4) | bits(b, 8*(4+j-4)+6, 2)<<4
			m = bits(b, 8*(12+j-4)+4, 4) | bits(b, 8*(4+j)+6, 2)<<4
		}
		qsOff := 16
		q := 0
		if typ == Q5_K {
			qsOff = 48
			q = 16 * bit(b, 8*(16+l)+j)
		}
		q += bits(b, 8*(qsOff+32*(j/2)+l)+4*(j%2), 4)
		return half(b, 0)*float64(sc)*float64(q) - half(b, 2)*float64(m)
	case Q6_K:
		h, r, l := i/128, (i%128)/32, i%32
		lo := bits(b, 8*(64*h+l+32*(r%2))+4*(r/2), 4)
		hi := bits(b, 8*(128+32*h+l)+2*r, 2)
		return half(b, 208) * float64(int8(b[192+i/16])) * float64(lo+16*hi-32)
	}
	panic("no bitwise decoder for " + typ.String())
}
