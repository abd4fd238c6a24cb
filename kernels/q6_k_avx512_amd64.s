//go:build amd64 && !purego

#include "textflag.h"

DATA z6iota<>+0(SB)/8, $0x0000000100000000
DATA z6iota<>+8(SB)/8, $0x0000000300000002
DATA z6iota<>+16(SB)/8, $0x0000000500000004
DATA z6iota<>+24(SB)/8, $0x0000000700000006
DATA z6iota<>+32(SB)/8, $0x0000000900000008
DATA z6iota<>+40(SB)/8, $0x0000000b0000000a
DATA z6iota<>+48(SB)/8, $0x0000000d0000000c
DATA z6iota<>+56(SB)/8, $0x0000000f0000000e
GLOBL z6iota<>(SB), RODATA|NOPTR, $64

// Q6_K with sixteen positions in the lanes of ZMM registers (see
// q8_0Tile16VNNI and q6_k_amd64.s for the block layout). For each dword
// position k (values 4k..4k+3 of a 32-value quarter) of each half, the ql
// dwords A (quarters 0, 2) and B (quarters 1, 3) and the qh dword Q are
// broadcast, the four quarters' unsigned 6-bit values are formed as
// u = (nibble) | (shifted Q & 0x30) (VPTERNLOGD $0xf8: a | b&c), and
// VPDPBUSD adds their products with the transposed quants to the
// accumulator of their 16-value group, Z<g> (g = 8h + 2r + k/4).
// isum = Σ sc_g·Z<g> - 32·Σ sc_g·bs_g (VPMULLD by the broadcast scale;
// VPDPWSSD of int16 pairs of scales and bsums), exact, and each lane
// does acc += (d·dx)·isum, as dotQ6_KGeneric.
//
// Frame: sc-64(SP) the 16 scales as int32, scp-96(SP) as int16 pairs.
// Z29 = 0x0f bytes, Z28 = 0x30 bytes.

#define Q6Z_STEP(H, K, R0, R1, R2, R3) \
	VPBROADCASTD (64*H+4*K)(SI), Z16; \
	VPBROADCASTD (64*H+32+4*K)(SI), Z17; \
	VPBROADCASTD (128+32*H+4*K)(SI), Z18; \
	VPANDD Z29, Z16, Z19; \
	VPSLLD $4, Z18, Z20; \
	VPTERNLOGD $0xf8, Z28, Z20, Z19; \
	VPDPBUSD (2048*H+64*K)(DX), Z19, R0; \
	VPANDD Z29, Z17, Z19; \
	VPSLLD $2, Z18, Z20; \
	VPTERNLOGD $0xf8, Z28, Z20, Z19; \
	VPDPBUSD (2048*H+512+64*K)(DX), Z19, R1; \
	VPSRLD $4, Z16, Z19; \
	VPANDD Z29, Z19, Z19; \
	VPTERNLOGD $0xf8, Z28, Z18, Z19; \
	VPDPBUSD (2048*H+1024+64*K)(DX), Z19, R2; \
	VPSRLD $4, Z17, Z19; \
	VPANDD Z29, Z19, Z19; \
	VPSRLD $2, Z18, Z20; \
	VPTERNLOGD $0xf8, Z28, Z20, Z19; \
	VPDPBUSD (2048*H+1536+64*K)(DX), Z19, R3

// func q6_KTile16VNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)
//
// Q6_K rows × sixteen Q8_K positions, one row per step; t, d16 and k16
// are prepTile16's. Results go to y[p*ystride + r].
TEXT ·q6_KTile16VNNI(SB), NOSPLIT, $96-64
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ nrows+24(FP), R10
	MOVQ ystride+8(FP), AX
	VPBROADCASTD AX, Z30
	VPMULLD z6iota<>(SB), Z30, Z30
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z29
	MOVL $0x30303030, AX
	VPBROADCASTD AX, Z28

z6row:
	VPXORD Z31, Z31, Z31
	MOVQ t+32(FP), DX
	MOVQ d16+40(FP), R11
	MOVQ k16+48(FP), R12
	MOVQ nb+56(FP), CX

z6sb:
	VPMOVSXBD 192(SI), Z16
	VMOVDQU32 Z16, sc-64(SP)
	VPMOVSXBW 192(SI), Y16
	VMOVDQU32 Y16, scp-96(SP)
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	Q6Z_STEP(0, 0, Z0, Z2, Z4, Z6)
	Q6Z_STEP(0, 1, Z0, Z2, Z4, Z6)
	Q6Z_STEP(0, 2, Z0, Z2, Z4, Z6)
	Q6Z_STEP(0, 3, Z0, Z2, Z4, Z6)
	Q6Z_STEP(0, 4, Z1, Z3, Z5, Z7)
	Q6Z_STEP(0, 5, Z1, Z3, Z5, Z7)
	Q6Z_STEP(0, 6, Z1, Z3, Z5, Z7)
	Q6Z_STEP(0, 7, Z1, Z3, Z5, Z7)
	Q6Z_STEP(1, 0, Z8, Z10, Z12, Z14)
	Q6Z_STEP(1, 1, Z8, Z10, Z12, Z14)
	Q6Z_STEP(1, 2, Z8, Z10, Z12, Z14)
	Q6Z_STEP(1, 3, Z8, Z10, Z12, Z14)
	Q6Z_STEP(1, 4, Z9, Z11, Z13, Z15)
	Q6Z_STEP(1, 5, Z9, Z11, Z13, Z15)
	Q6Z_STEP(1, 6, Z9, Z11, Z13, Z15)
	Q6Z_STEP(1, 7, Z9, Z11, Z13, Z15)

	// isum = Σ sc_g · Z<g> - 32 · Σ sc_g · bs_g
	VPMULLD.BCST sc-64(SP), Z0, Z0
	VPMULLD.BCST sc-60(SP), Z1, Z1
	VPMULLD.BCST sc-56(SP), Z2, Z2
	VPMULLD.BCST sc-52(SP), Z3, Z3
	VPMULLD.BCST sc-48(SP), Z4, Z4
	VPMULLD.BCST sc-44(SP), Z5, Z5
	VPMULLD.BCST sc-40(SP), Z6, Z6
	VPMULLD.BCST sc-36(SP), Z7, Z7
	VPMULLD.BCST sc-32(SP), Z8, Z8
	VPMULLD.BCST sc-28(SP), Z9, Z9
	VPMULLD.BCST sc-24(SP), Z10, Z10
	VPMULLD.BCST sc-20(SP), Z11, Z11
	VPMULLD.BCST sc-16(SP), Z12, Z12
	VPMULLD.BCST sc-12(SP), Z13, Z13
	VPMULLD.BCST sc-8(SP), Z14, Z14
	VPMULLD.BCST sc-4(SP), Z15, Z15
	VPADDD Z1, Z0, Z0
	VPADDD Z3, Z2, Z2
	VPADDD Z5, Z4, Z4
	VPADDD Z7, Z6, Z6
	VPADDD Z9, Z8, Z8
	VPADDD Z11, Z10, Z10
	VPADDD Z13, Z12, Z12
	VPADDD Z15, Z14, Z14
	VPADDD Z2, Z0, Z0
	VPADDD Z6, Z4, Z4
	VPADDD Z10, Z8, Z8
	VPADDD Z14, Z12, Z12
	VPADDD Z4, Z0, Z0
	VPADDD Z12, Z8, Z8
	VPADDD Z8, Z0, Z0
	VPXORD Z22, Z22, Z22
	VMOVDQU32 256(R12), Z23
	VPDPWSSD.BCST scp-96(SP), Z23, Z22
	VMOVDQU32 320(R12), Z23
	VPDPWSSD.BCST scp-92(SP), Z23, Z22
	VMOVDQU32 384(R12), Z23
	VPDPWSSD.BCST scp-88(SP), Z23, Z22
	VMOVDQU32 448(R12), Z23
	VPDPWSSD.BCST scp-84(SP), Z23, Z22
	VMOVDQU32 512(R12), Z23
	VPDPWSSD.BCST scp-80(SP), Z23, Z22
	VMOVDQU32 576(R12), Z23
	VPDPWSSD.BCST scp-76(SP), Z23, Z22
	VMOVDQU32 640(R12), Z23
	VPDPWSSD.BCST scp-72(SP), Z23, Z22
	VMOVDQU32 704(R12), Z23
	VPDPWSSD.BCST scp-68(SP), Z23, Z22
	VPSLLD $5, Z22, Z22
	VPSUBD Z22, Z0, Z0

	VCVTDQ2PS Z0, Z0
	VPBROADCASTW 208(SI), Y24
	VCVTPH2PS Y24, Z24
	VMULPS (R11), Z24, Z24
	VMULPS Z0, Z24, Z24
	VADDPS Z24, Z31, Z31

	ADDQ $210, SI
	ADDQ $4096, DX
	ADDQ $64, R11
	ADDQ $768, R12
	DECQ CX
	JNZ z6sb

	KXNORW K1, K1, K1
	VSCATTERDPS Z31, K1, (DI)(Z30*4)
	ADDQ $4, DI
	DECQ R10
	JNZ z6row
	VZEROUPPER
	RET
