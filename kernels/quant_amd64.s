//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// Activation quantizers, bit-identical to quantQ8_0 and quantQ8_K in
// act.go for every input (NaN and infinities included): they do the same
// float32 operations and round with the same trick (adding 1.5·2^23 and
// taking the low mantissa bits, see roundEven), keep the low byte of
// each quant as int8() does, and sum the untruncated int32 quants.

DATA qperm<>+0(SB)/4, $0
DATA qperm<>+4(SB)/4, $4
DATA qperm<>+8(SB)/4, $1
DATA qperm<>+12(SB)/4, $5
DATA qperm<>+16(SB)/4, $2
DATA qperm<>+20(SB)/4, $6
DATA qperm<>+24(SB)/4, $3
DATA qperm<>+28(SB)/4, $7
GLOBL qperm<>(SB), RODATA|NOPTR, $32

// QROUND sets Y (int32 lanes) to roundEven(V) for the float lanes V:
// bits(V + 1.5·2^23) & 0x7fffff - 0x400000. Y11 = 1.5·2^23, Y12 =
// 0x7fffff, Y13 = 0x400000.
#define QROUND(V) \
	VADDPS Y11, V, V; \
	VPAND Y12, V, V; \
	VPSUBD Y13, V, V

// QPACK stores the low bytes of the 32 int32 lanes of A, B, C, D (in that
// order) at (DI): masked to 8 bits, the unsigned saturating packs are
// exact, and VPERMD undoes their lane interleaving. Clobbers A..D.
#define QPACK(A, B, C, D) \
	VPAND Y14, A, A; \
	VPAND Y14, B, B; \
	VPAND Y14, C, C; \
	VPAND Y14, D, D; \
	VPACKUSDW B, A, A; \
	VPACKUSDW D, C, C; \
	VPACKUSWB C, A, A; \
	VPERMD A, Y10, A; \
	VMOVDQU A, (DI)

// QCONSTS loads the constants of QROUND and QPACK and Y15 = 0x7fffffff
// (the absolute-value mask).
#define QCONSTS \
	MOVL $0x4b400000, AX; \
	VMOVD AX, X11; \
	VPBROADCASTD X11, Y11; \
	MOVL $0x7fffff, AX; \
	VMOVD AX, X12; \
	VPBROADCASTD X12, Y12; \
	MOVL $0x400000, AX; \
	VMOVD AX, X13; \
	VPBROADCASTD X13, Y13; \
	MOVL $0xff, AX; \
	VMOVD AX, X14; \
	VPBROADCASTD X14, Y14; \
	MOVL $0x7fffffff, AX; \
	VMOVD AX, X15; \
	VPBROADCASTD X15, Y15; \
	VMOVDQU qperm<>(SB), Y10

// HMAXU sets lane 0 of X (the X register of Y) to the unsigned maximum of
// the eight lanes of Y (T scratch, XT its X register).
#define HMAXU(Y, X, T, XT) \
	VEXTRACTI128 $1, Y, XT; \
	VPMAXUD XT, X, X; \
	VPSHUFD $0x4e, X, XT; \
	VPMAXUD XT, X, X; \
	VPSHUFD $0xb1, X, XT; \
	VPMAXUD XT, X, X

// HSUM sets lane 0 of X to the int32 sum of the eight lanes of Y.
#define HSUM(Y, X, T, XT) \
	VEXTRACTI128 $1, Y, XT; \
	VPADDD XT, X, X; \
	VPSHUFD $0x4e, X, XT; \
	VPADDD XT, X, X; \
	VPSHUFD $0xb1, X, XT; \
	VPADDD XT, X, X

// func quantQ8_0AVX2(x *float32, q *int8, d *float32, sum *int32, nb int)
//
// quantQ8_0 without s: amax = max |x| (as magnitude bits), d = f16(amax/127)
// (VCVTPS2PH rounds to nearest even as fp32ToFP16 does), id = 127/amax or
// 0, q = roundEven(x·id).
TEXT ·quantQ8_0AVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), R8
	MOVQ sum+24(FP), R9
	MOVQ nb+32(FP), CX
	QCONSTS
	MOVL $0x42fe0000, AX // 127
	VMOVD AX, X9

q0block:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VPAND Y15, Y0, Y4
	VPAND Y15, Y1, Y5
	VPAND Y15, Y2, Y6
	VPAND Y15, Y3, Y7
	VPMAXUD Y5, Y4, Y4
	VPMAXUD Y7, Y6, Y6
	VPMAXUD Y6, Y4, Y4
	HMAXU(Y4, X4, Y5, X5)
	// d = f16(amax/127); id = amax != 0 ? 127/amax : 0
	VDIVSS X9, X4, X5
	VCVTPS2PH $0, X5, X5
	VCVTPH2PS X5, X5
	VMOVSS X5, (R8)
	VDIVSS X4, X9, X6
	VXORPS X7, X7, X7
	VCMPSS $4, X7, X4, X7
	VANDPS X7, X6, X6
	VBROADCASTSS X6, Y6
	VMULPS Y6, Y0, Y0
	VMULPS Y6, Y1, Y1
	VMULPS Y6, Y2, Y2
	VMULPS Y6, Y3, Y3
	QROUND(Y0)
	QROUND(Y1)
	QROUND(Y2)
	QROUND(Y3)
	VPADDD Y1, Y0, Y4
	VPADDD Y3, Y2, Y5
	VPADDD Y5, Y4, Y4
	HSUM(Y4, X4, Y5, X5)
	VMOVD X4, (R9)
	QPACK(Y0, Y1, Y2, Y3)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ q0block
	VZEROUPPER
	RET

// func quantQ8_KAVX2(x *float32, q *int8, d *float32, bsums *int32, nb int)
//
// quantQ8_K: mx = the first value of largest magnitude, iscale = -127/mx,
// q = min(127, roundEven(iscale·x)), d = 1/iscale, bsums per 16; a block
// of zeros gets d = 0 and zero quants and sums.
TEXT ·quantQ8_KAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), R8
	MOVQ bsums+24(FP), R9
	MOVQ nb+32(FP), CX
	QCONSTS
	MOVL $127, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9

kqblock:
	// Largest magnitude (bits) of the 256 values.
	VPAND (SI), Y15, Y4
	MOVQ $32, DX
kqmax:
	VPAND (SI)(DX*1), Y15, Y5
	VPMAXUD Y5, Y4, Y4
	ADDQ $32, DX
	CMPQ DX, $1024
	JB kqmax
	HMAXU(Y4, X4, Y5, X5)
	VMOVD X4, AX
	TESTL AX, AX
	JZ kqzero

	// The first value with that magnitude.
	VPBROADCASTD X4, Y4
	XORQ DX, DX
kqfind:
	VPAND (SI)(DX*1), Y15, Y5
	VPCMPEQD Y4, Y5, Y5
	VMOVMSKPS Y5, AX
	TESTL AX, AX
	JNZ kqfound
	ADDQ $32, DX
	JMP kqfind
kqfound:
	BSFL AX, AX
	LEAQ (DX)(AX*4), AX
	VMOVSS (SI)(AX*1), X5
	// iscale = -127/mx, d = 1/iscale
	MOVL $0xc2fe0000, AX // -127
	VMOVD AX, X6
	VDIVSS X5, X6, X6
	MOVL $0x3f800000, AX // 1
	VMOVD AX, X7
	VDIVSS X6, X7, X7
	VMOVSS X7, (R8)
	VBROADCASTSS X6, Y6

	// Quants and sums, 32 values (two 16-value groups) per step.
	XORQ DX, DX
kqstep:
	VMULPS (SI)(DX*4), Y6, Y0
	VMULPS 32(SI)(DX*4), Y6, Y1
	VMULPS 64(SI)(DX*4), Y6, Y2
	VMULPS 96(SI)(DX*4), Y6, Y3
	QROUND(Y0)
	QROUND(Y1)
	QROUND(Y2)
	QROUND(Y3)
	VPMINSD Y9, Y0, Y0
	VPMINSD Y9, Y1, Y1
	VPMINSD Y9, Y2, Y2
	VPMINSD Y9, Y3, Y3
	VPADDD Y1, Y0, Y4
	VPADDD Y3, Y2, Y5
	// [Σ group 0, Σ group 1] into the two low lanes of X4
	MERGE2(Y4, Y5, Y7, Y8)
	VPSHUFD $0x4e, Y4, Y5
	VPADDD Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD X5, X4, X4
	VMOVQ X4, (R9)
	QPACK(Y0, Y1, Y2, Y3)
	ADDQ $32, DI
	ADDQ $8, R9
	ADDQ $32, DX
	CMPQ DX, $256
	JB kqstep
	JMP kqnext

kqzero:
	VPXOR Y0, Y0, Y0
	MOVL $0, (R8)
	VMOVDQU Y0, (R9)
	VMOVDQU Y0, 32(R9)
	ADDQ $64, R9
	MOVQ $8, DX
kqz:
	VMOVDQU Y0, (DI)
	ADDQ $32, DI
	DECQ DX
	JNZ kqz

kqnext:
	ADDQ $1024, SI
	ADDQ $4, R8
	DECQ CX
	JNZ kqblock
	VZEROUPPER
	RET
