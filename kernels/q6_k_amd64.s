//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// k6Shuf<>+16*i is a VPSHUFB control giving bytes [2i ×8, 2i+1 ×8]: the
// scales of the two 16-value groups of quarter i of a Q6_K block, which
// VPMOVSXBW then spreads over the two lanes of a word vector.
#define SHUF6(i) \
	DATA k6Shuf<>+(16*i)(SB)/8, $(0x0101010101010101*(2*i)); \
	DATA k6Shuf<>+(16*i+8)(SB)/8, $(0x0101010101010101*(2*i+1))
SHUF6(0)
SHUF6(1)
SHUF6(2)
SHUF6(3)
SHUF6(4)
SHUF6(5)
SHUF6(6)
SHUF6(7)
GLOBL k6Shuf<>(SB), RODATA|NOPTR, $128

// Q6_K block (210 bytes): ql[128] at 0, qh[64] at 128, int8 scales[16] at
// 192, f16 d at 208. Value l of quarter r (32 values) of half h is
// (ql[64h + l + 32(r%2)] >> 4(r/2)) & 15 | ((qh[32h + l] >> 2r) & 3) << 4,
// minus 32. The kernels multiply the unsigned 6-bit values u (0..63:
// VPMADDUBSW pairs reach 2·63·127, no saturation) and subtract 32 times
// the scaled activation bsums: isum = Σ_k sc_k (Σ u·q - 32·bs_k), exact.

// Q6K_UNPACK forms the four quarters of half H of the block at AX from
// Y4 = ql[0:32], Y5 = ql[32:64], Y6 = qh (per quarter into Y10, calling
// QUARTER(Y10, r) after each). Y15 = 0x0f bytes, Y13 = 0x30 bytes.
#define Q6K_Q0 \
	VPAND Y15, Y4, Y10; \
	VPSLLW $4, Y6, Y11; \
	VPAND Y13, Y11, Y11; \
	VPOR Y11, Y10, Y10
#define Q6K_Q1 \
	VPAND Y15, Y5, Y10; \
	VPSLLW $2, Y6, Y11; \
	VPAND Y13, Y11, Y11; \
	VPOR Y11, Y10, Y10
#define Q6K_Q2 \
	VPSRLW $4, Y4, Y10; \
	VPAND Y15, Y10, Y10; \
	VPAND Y13, Y6, Y11; \
	VPOR Y11, Y10, Y10
#define Q6K_Q3 \
	VPSRLW $4, Y5, Y10; \
	VPAND Y15, Y10, Y10; \
	VPSRLW $2, Y6, Y11; \
	VPAND Y13, Y11, Y11; \
	VPOR Y11, Y10, Y10

// Q6K_SCALE sets Y12 to the scale words of quarter i (X8 = the 16 scales).
#define Q6K_SCALE(i) \
	VPSHUFB k6Shuf<>+(16*i)(SB), X8, X12; \
	VPMOVSXBW X12, Y12

// Q6K_ROWQ adds quarter i (values in Y10, quants at AOFF(DX)) to I.
#define Q6K_ROWQ(I, AOFF, i) \
	Q6K_SCALE(i); \
	VPMADDUBSW AOFF(DX), Y10, Y10; \
	VPMADDWD Y12, Y10, Y10; \
	VPADDD Y10, I, I

#define Q6K_ROWHALF(I, H) \
	VMOVDQU (64*H)(AX), Y4; \
	VMOVDQU (64*H+32)(AX), Y5; \
	VMOVDQU (128+32*H)(AX), Y6; \
	Q6K_Q0; \
	Q6K_ROWQ(I, (128*H), (4*H)); \
	Q6K_Q1; \
	Q6K_ROWQ(I, (128*H+32), (4*H+1)); \
	Q6K_Q2; \
	Q6K_ROWQ(I, (128*H+64), (4*H+2)); \
	Q6K_Q3; \
	Q6K_ROWQ(I, (128*H+96), (4*H+3))

// Q6K_ROW computes the isum lanes of the block at AX into I; the
// activation bsums are at (R13).
#define Q6K_ROW(I) \
	VMOVDQU 192(AX), X8; \
	VPMOVSXBW X8, Y9; \
	VPMADDWD (R13), Y9, Y9; \
	VPSLLD $5, Y9, Y9; \
	VPXOR I, I, I; \
	VPSUBD Y9, I, I; \
	Q6K_ROWHALF(I, 0); \
	Q6K_ROWHALF(I, 1)

// func q6_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// Q6_K rows × Q8_K activations, four rows per step (nrows a multiple of
// 4). Each row's exact isum per super-block lands in one lane; the lanes
// do acc += (d·dx)·float32(isum) in block order, as dotQ6_KGeneric.
TEXT ·q6_KRowsAVX2(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x30303030, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

group6:
	VXORPS X14, X14, X14
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R12
	MOVQ ks+48(FP), R13
	MOVQ nb+56(FP), CX

sb6:
	LEAQ (BX)(R8*4), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	PREFETCHT0 192(AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 64(AX)(R8*1)
	PREFETCHT0 128(AX)(R8*1)
	PREFETCHT0 192(AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 64(AX)(R8*2)
	PREFETCHT0 128(AX)(R8*2)
	PREFETCHT0 192(AX)(R8*2)
	PREFETCHT0 (AX)(R9*1)
	PREFETCHT0 64(AX)(R9*1)
	PREFETCHT0 128(AX)(R9*1)
	PREFETCHT0 192(AX)(R9*1)

	MOVQ BX, AX
	Q6K_ROW(Y0)
	LEAQ (BX)(R8*1), AX
	Q6K_ROW(Y1)
	MERGE2(Y0, Y1, Y2, Y3)
	LEAQ (BX)(R8*2), AX
	Q6K_ROW(Y1)
	LEAQ (BX)(R9*1), AX
	Q6K_ROW(Y2)
	MERGE2(Y1, Y2, Y3, Y7)
	MERGE4(Y0, Y1, Y3, Y7)
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VCVTDQ2PS X0, X0

	HALVES4(208, BX, R8, R9, X1, AX, R11)
	VCVTPH2PS X1, X1
	VBROADCASTSS (R12), X2
	VMULPS X2, X1, X1
	VMULPS X0, X1, X1
	VADDPS X1, X14, X14

	ADDQ $210, BX
	ADDQ $256, DX
	ADDQ $4, R12
	ADDQ $64, R13
	DECQ CX
	JNZ sb6

	VMOVUPS X14, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA group6
	VZEROUPPER
	RET

// Q6KT_POS adds one position's products of quarter Y10 (scale words Y12)
// to I; the quants are at AOFF(QP)(DX*1).
#define Q6KT_POS(I, AOFF, QP) \
	VPMADDUBSW AOFF(QP)(DX*1), Y10, Y11; \
	VPMADDWD Y12, Y11, Y11; \
	VPADDD Y11, I, I

#define Q6KT_Q(AOFF, i) \
	Q6K_SCALE(i); \
	Q6KT_POS(Y0, AOFF, R11); \
	Q6KT_POS(Y1, AOFF, R12); \
	Q6KT_POS(Y2, AOFF, R13); \
	Q6KT_POS(Y3, AOFF, BX)

#define Q6KT_HALF(H) \
	VMOVDQU (64*H)(SI), Y4; \
	VMOVDQU (64*H+32)(SI), Y5; \
	VMOVDQU (128+32*H)(SI), Y6; \
	Q6K_Q0; \
	Q6KT_Q((128*H), (4*H)); \
	Q6K_Q1; \
	Q6KT_Q((128*H+32), (4*H+1)); \
	Q6K_Q2; \
	Q6KT_Q((128*H+64), (4*H+2)); \
	Q6K_Q3; \
	Q6KT_Q((128*H+96), (4*H+3))

// Q6KT_INIT sets I = -32·Σ sc_k·bs_k for the position whose bsums are at
// OFF(AX) (Y9 = the scale words).
#define Q6KT_INIT(I, OFF) \
	VPMADDWD OFF(AX), Y9, Y7; \
	VPSLLD $5, Y7, Y7; \
	VPXOR I, I, I; \
	VPSUBD Y7, I, I

// func q6_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
//
// Q6_K rows × four Q8_K positions, one row per step: each super-block's
// 6-bit values and scale words are formed once for the four positions.
// Lane p follows dotQ6_KGeneric for position p. k4 is prepTile's g4k
// (bsums of position p at 64+32p bytes, 192 bytes per super-block).
TEXT ·q6_KTileAVX2(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ nrows+24(FP), R10
	MOVQ q+32(FP), BX
	MOVQ (BX), R11
	MOVQ 8(BX), R12
	MOVQ 16(BX), R13
	MOVQ 24(BX), BX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x30303030, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

trow6:
	VXORPS X14, X14, X14
	XORQ DX, DX
	MOVQ d4+40(FP), R9
	MOVQ k4+48(FP), AX
	MOVQ nb+56(FP), CX

tsb6:
	VMOVDQU 192(SI), X8
	VPMOVSXBW X8, Y9
	Q6KT_INIT(Y0, 64)
	Q6KT_INIT(Y1, 96)
	Q6KT_INIT(Y2, 128)
	Q6KT_INIT(Y3, 160)
	Q6KT_HALF(0)
	Q6KT_HALF(1)

	REDUCE4(Y0, Y1, Y2, Y3, Y4, Y5, X0, X4)
	VCVTDQ2PS X0, X0

	MOVWLZX 208(SI), R8
	VMOVD R8, X1
	VCVTPH2PS X1, X1
	VBROADCASTSS X1, X1
	VMULPS (R9), X1, X1
	VMULPS X0, X1, X1
	VADDPS X1, X14, X14

	ADDQ $210, SI
	ADDQ $256, DX
	ADDQ $16, R9
	ADDQ $192, AX
	DECQ CX
	JNZ tsb6

	MOVQ ystride+8(FP), CX
	SHLQ $2, CX
	MOVQ DI, DX
	VMOVSS X14, (DX)
	ADDQ CX, DX
	VEXTRACTPS $1, X14, (DX)
	ADDQ CX, DX
	VEXTRACTPS $2, X14, (DX)
	ADDQ CX, DX
	VEXTRACTPS $3, X14, (DX)
	ADDQ $4, DI
	DECQ R10
	JNZ trow6
	VZEROUPPER
	RET
