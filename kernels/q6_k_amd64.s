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
#define Q6K_ROWQ(I, IN, AOFF, i) \
	Q6K_SCALE(i); \
	VPMADDUBSW AOFF(DX), Y10, Y10; \
	MADDACC(Y12, 12, Y10, 10, I, IN)

#define Q6K_ROWHALF(I, IN, H) \
	VMOVDQU (64*H)(AX), Y4; \
	VMOVDQU (64*H+32)(AX), Y5; \
	VMOVDQU (128+32*H)(AX), Y6; \
	Q6K_Q0; \
	Q6K_ROWQ(I, IN, (128*H), (4*H)); \
	Q6K_Q1; \
	Q6K_ROWQ(I, IN, (128*H+32), (4*H+1)); \
	Q6K_Q2; \
	Q6K_ROWQ(I, IN, (128*H+64), (4*H+2)); \
	Q6K_Q3; \
	Q6K_ROWQ(I, IN, (128*H+96), (4*H+3))

// Q6K_ROW computes the isum lanes of the block at AX into I; the
// activation bsums are at (R13).
#define Q6K_ROW(I, IN) \
	VMOVDQU 192(AX), X8; \
	VPMOVSXBW X8, Y9; \
	VPMADDWD (R13), Y9, Y9; \
	VPSLLD $5, Y9, Y9; \
	VPXOR I, I, I; \
	VPSUBD Y9, I, I; \
	Q6K_ROWHALF(I, IN, 0); \
	Q6K_ROWHALF(I, IN, 1)


// Q6KT_POS adds one position's products of quarter Y10 (scale words Y12)
// to I; the quants are at AOFF(QP)(DX*1).
#define Q6KT_POS(I, IN, AOFF, QP) \
	VPMADDUBSW AOFF(QP)(DX*1), Y10, Y11; \
	MADDACC(Y12, 12, Y11, 11, I, IN)

#define Q6KT_Q(AOFF, i) \
	Q6K_SCALE(i); \
	Q6KT_POS(Y0, 0, AOFF, R11); \
	Q6KT_POS(Y1, 1, AOFF, R12); \
	Q6KT_POS(Y2, 2, AOFF, R13); \
	Q6KT_POS(Y3, 3, AOFF, BX)

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

// The kernels, from the template q6_k_amd64.h, for AVX2 and AVX-VNNI
// (MADDACC: see kernels_amd64.h).
#define MADDACC MADDACC_AVX2
#define K6ROWS ·q6_KRowsAVX2
#define K6TILE ·q6_KTileAVX2
#include "q6_k_amd64.h"
#undef MADDACC
#undef K6ROWS
#undef K6TILE

#define MADDACC MADDACC_VEX
#define K6ROWS ·q6_KRowsAVXVNNI
#define K6TILE ·q6_KTileAVXVNNI
#include "q6_k_amd64.h"
