//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// Q4_K prefill with AVX-VNNI: eight positions in the 32-bit lanes of YMM
// registers, the design of q4_KTile16VNNI (see q4_k_avx512_amd64.s) at
// half the width and with VEX encodings. Per super-block and row,
// sub-block s accumulates in Y<s> the products of its unsigned nibbles
// (each dword of qs holds four values of sub-block 2j in its low nibbles
// and four of 2j+1 in its high ones, broadcast to all lanes) with the
// positions' transposed quants; isum = Σ sc_s·Y<s> (VPMULLD) and msum =
// Σ mn_s·pairsum_s (VPDPWSSD of int16 pairs) are exact, and the lanes do
// acc += (d·dx)·isum, acc -= (dmin·dx)·msum as finishK4.

// The scale-unpacking constants ·k4shrA... are q4_k_amd64.s's.

// K8DWORD: the dword at OFF(SI) of the row's block; its low nibbles go
// with the quants at TLO(DX) into Y<LO>, its high ones with THI(DX) into
// Y<HI> (register numbers). Y13 = 0x0f bytes.
#define K8DWORD(OFF, TLO, THI, LO, HI) \
	VPBROADCASTD OFF(SI), Y8; \
	VPSRLD $4, Y8, Y10; \
	VPAND Y13, Y8, Y8; \
	VPAND Y13, Y10, Y10; \
	VMOVDQU TLO(DX), Y9; \
	VPDPBUSD_VEX(9, 8, LO); \
	VMOVDQU THI(DX), Y11; \
	VPDPBUSD_VEX(11, 10, HI)

// K8STEP: dword k of each of the four 32-byte groups of qs (sub-blocks
// 2j, 2j+1 for j = 0..3), so that the eight accumulator chains advance in
// turn. The quants of chunk c (values 4c..4c+3) are at 64c(DX).
#define K8STEP(K) \
	K8DWORD((16+4*K), (64*K), (512+64*K), 0, 1); \
	K8DWORD((48+4*K), (1024+64*K), (1536+64*K), 2, 3); \
	K8DWORD((80+4*K), (2048+64*K), (2560+64*K), 4, 5); \
	K8DWORD((112+4*K), (3072+64*K), (3584+64*K), 6, 7)

// K8SCALE multiplies sub-block S's sums Y by its scale (int32 at 4S(SP)).
#define K8SCALE(S, Y) \
	VPBROADCASTD (4*S)(SP), Y8; \
	VPMULLD Y8, Y, Y

// K8MINS adds min pair J (int16 words at 32+4J(SP)) times the positions'
// pair sums 2J, 2J+1 (at 64J(R12)) to Y15.
#define K8MINS(J) \
	VPBROADCASTD (32+4*J)(SP), Y8; \
	VMOVDQU (64*J)(R12), Y9; \
	VPDPWSSD_VEX(9, 8, 15)

// func q4_KTile8AVXVNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)
//
// Q4_K rows × eight Q8_K positions, one row per step; t, d16 and k16 are
// prepTile16's, offset to the half of its sixteen positions this call
// does. Results go to y[p*ystride + r]. Frame: 0(SP) the eight scales as
// int32, 32(SP) the eight mins as int16.
TEXT ·q4_KTile8AVXVNNI(SB), NOSPLIT, $48-64
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ nrows+24(FP), R10
	MOVQ ystride+8(FP), AX
	SHLQ $2, AX
	LEAQ (AX)(AX*2), R13
	MOVL $0x0f0f0f0f, BX
	VMOVD BX, X13
	VPBROADCASTD X13, Y13

k8row:
	VXORPS Y14, Y14, Y14
	MOVQ t+32(FP), DX
	MOVQ d16+40(FP), R11
	MOVQ k16+48(FP), R12
	MOVQ nb+56(FP), CX

k8sb:
	VMOVDQU 4(SI), X8
	VPSHUFD $0x98, X8, X9
	VPSRLVD ·k4shrA(SB), X9, X9
	VPAND ·k4maskA(SB), X9, X9
	VPSHUFD $0x50, X8, X8
	VPSRLVD ·k4shrB(SB), X8, X8
	VPAND ·k4maskB(SB), X8, X8
	VPSLLD $4, X8, X8
	VPOR X8, X9, X9
	VPMOVZXBD X9, Y8
	VMOVDQU Y8, 0(SP)
	VPSRLDQ $8, X9, X9
	VPMOVZXBW X9, X9
	VMOVDQU X9, 32(SP)

	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	K8STEP(0)
	K8STEP(1)
	K8STEP(2)
	K8STEP(3)
	K8STEP(4)
	K8STEP(5)
	K8STEP(6)
	K8STEP(7)

	// isum = Σ sc_s · Y<s>
	K8SCALE(0, Y0)
	K8SCALE(1, Y1)
	K8SCALE(2, Y2)
	K8SCALE(3, Y3)
	K8SCALE(4, Y4)
	K8SCALE(5, Y5)
	K8SCALE(6, Y6)
	K8SCALE(7, Y7)
	VPADDD Y1, Y0, Y0
	VPADDD Y3, Y2, Y2
	VPADDD Y5, Y4, Y4
	VPADDD Y7, Y6, Y6
	VPADDD Y2, Y0, Y0
	VPADDD Y6, Y4, Y4
	VPADDD Y4, Y0, Y0

	// msum = Σ mn_s · pairsum_s
	VPXOR Y15, Y15, Y15
	K8MINS(0)
	K8MINS(1)
	K8MINS(2)
	K8MINS(3)

	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y15, Y15
	VPBROADCASTW (SI), X10
	VCVTPH2PS X10, Y10
	VMULPS (R11), Y10, Y10
	VMULPS Y0, Y10, Y10
	VADDPS Y10, Y14, Y14
	VPBROADCASTW 2(SI), X11
	VCVTPH2PS X11, Y11
	VMULPS (R11), Y11, Y11
	VMULPS Y15, Y11, Y11
	VSUBPS Y11, Y14, Y14

	ADDQ $144, SI
	ADDQ $4096, DX
	ADDQ $64, R11
	ADDQ $768, R12
	DECQ CX
	JNZ k8sb

	// Lane p to y[p*ystride].
	VEXTRACTF128 $1, Y14, X8
	VMOVSS X14, (DI)
	VEXTRACTPS $1, X14, (DI)(AX*1)
	VEXTRACTPS $2, X14, (DI)(AX*2)
	VEXTRACTPS $3, X14, (DI)(R13*1)
	LEAQ (DI)(AX*4), BX
	VMOVSS X8, (BX)
	VEXTRACTPS $1, X8, (BX)(AX*1)
	VEXTRACTPS $2, X8, (BX)(AX*2)
	VEXTRACTPS $3, X8, (BX)(R13*1)
	ADDQ $4, DI
	DECQ R10
	JNZ k8row
	VZEROUPPER
	RET
