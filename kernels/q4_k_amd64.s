//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// Constants for unpacking the 12-byte scales field of Q4_K/Q5_K blocks
// with vector shifts (see Q4K_SCALES; global: q4_k_avxvnni_amd64.s uses
// them too) and for spreading the scales.
DATA ·k4shrA+0(SB)/4, $0
DATA ·k4shrA+4(SB)/4, $0
DATA ·k4shrA+8(SB)/4, $0
DATA ·k4shrA+12(SB)/4, $4
GLOBL ·k4shrA(SB), RODATA|NOPTR, $16
DATA ·k4maskA+0(SB)/4, $0x3f3f3f3f
DATA ·k4maskA+4(SB)/4, $0x0f0f0f0f
DATA ·k4maskA+8(SB)/4, $0x3f3f3f3f
DATA ·k4maskA+12(SB)/4, $0x0f0f0f0f
GLOBL ·k4maskA(SB), RODATA|NOPTR, $16
DATA ·k4shrB+0(SB)/4, $32
DATA ·k4shrB+4(SB)/4, $6
DATA ·k4shrB+8(SB)/4, $32
DATA ·k4shrB+12(SB)/4, $6
GLOBL ·k4shrB(SB), RODATA|NOPTR, $16
DATA ·k4maskB+0(SB)/4, $0x03030303
DATA ·k4maskB+4(SB)/4, $0x03030303
DATA ·k4maskB+8(SB)/4, $0x03030303
DATA ·k4maskB+12(SB)/4, $0x03030303
GLOBL ·k4maskB(SB), RODATA|NOPTR, $16

// kScaleShuf<>+32*j is a VPSHUFB control that copies 16-bit word j of
// each 128-bit lane to all eight words of the lane.
#define SHUFW(j) \
	DATA kScaleShuf<>+(32*j)(SB)/8, $(0x0100010001000100 + 0x0202020202020202*j); \
	DATA kScaleShuf<>+(32*j+8)(SB)/8, $(0x0100010001000100 + 0x0202020202020202*j); \
	DATA kScaleShuf<>+(32*j+16)(SB)/8, $(0x0100010001000100 + 0x0202020202020202*j); \
	DATA kScaleShuf<>+(32*j+24)(SB)/8, $(0x0100010001000100 + 0x0202020202020202*j)
SHUFW(0)
SHUFW(1)
SHUFW(2)
SHUFW(3)
SHUFW(4)
SHUFW(5)
SHUFW(6)
SHUFW(7)
GLOBL kScaleShuf<>(SB), RODATA|NOPTR, $256

// KCOMBINE sets Y to [isum lanes, low half + high half | msum lanes] from
// Y = isum (8 lanes) and M = msum (4 lanes); X is Y's X register, T a
// scratch X register. REDUCE4H of four such vectors gives
// [isum 0..3 | msum 0..3].
#define KCOMBINE(Y, X, M, T) \
	VEXTRACTI128 $1, Y, T; \
	VPADDD T, X, X; \
	VINSERTI128 $1, M, Y, Y

// Q4K_SCALES unpacks the scales field at 4(AX) into Y9 = the eight
// scales as words in both lanes, and M = the eight mins (words) times the
// activation's pair sums at 32(R13) (VPMADDWD: 4 int32 partial sums of
// msum). It follows scalesK4: u0 = s0&k1, u1 = s2&k2 | (s0>>6&k3)<<4,
// u2 = s1&k1, u3 = s2>>4&k2 | (s1>>6&k3)<<4, done on the four dwords at
// once with variable shifts (a shift of 32 gives 0).
#define Q4K_SCALES(M) \
	VMOVDQU 4(AX), X8; \
	VPSHUFD $0x98, X8, X9; \
	VPSRLVD ·k4shrA(SB), X9, X9; \
	VPAND ·k4maskA(SB), X9, X9; \
	VPSHUFD $0x50, X8, X8; \
	VPSRLVD ·k4shrB(SB), X8, X8; \
	VPAND ·k4maskB(SB), X8, X8; \
	VPSLLD $4, X8, X8; \
	VPOR X8, X9, X9; \
	VPMOVZXBW X9, Y9; \
	VEXTRACTI128 $1, Y9, M; \
	VPMADDWD 32(R13), M, M; \
	VPERMQ $0x44, Y9, Y9

// Q4K_PAIR accumulates into I sub-blocks 2j and 2j+1 of the row at AX
// (32 bytes of nibbles at QOFF(AX)) against the quants at AOFF(DX):
// VPMADDUBSW (nibble ≤ 15 times |q| ≤ 127, pairs: no saturation), then
// MADDACC by the sub-block's scale.
#define Q4K_PAIR(I, IN, QOFF, AOFF, S0, S1) \
	VMOVDQU QOFF(AX), Y10; \
	VPSRLW $4, Y10, Y11; \
	VPAND Y15, Y10, Y10; \
	VPAND Y15, Y11, Y11; \
	VPMADDUBSW AOFF(DX), Y10, Y10; \
	VPMADDUBSW (AOFF+32)(DX), Y11, Y11; \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	MADDACC(Y12, 12, Y10, 10, I, IN); \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y12; \
	MADDACC(Y12, 12, Y11, 11, I, IN)

// Q4K_ROW computes the integer sums of one Q4_K super-block of the row at
// AX: I = isum lanes (8 × int32), M = msum lanes (4 × int32).
#define Q4K_ROW(I, IN, M) \
	Q4K_SCALES(M); \
	VPXOR I, I, I; \
	Q4K_PAIR(I, IN, 16, 0, 0, 32); \
	Q4K_PAIR(I, IN, 48, 64, 64, 96); \
	Q4K_PAIR(I, IN, 80, 128, 128, 160); \
	Q4K_PAIR(I, IN, 112, 192, 192, 224)


DATA permDW4<>+0(SB)/4, $0
DATA permDW4<>+4(SB)/4, $0
DATA permDW4<>+8(SB)/4, $0
DATA permDW4<>+12(SB)/4, $0
DATA permDW4<>+16(SB)/4, $1
DATA permDW4<>+20(SB)/4, $1
DATA permDW4<>+24(SB)/4, $1
DATA permDW4<>+28(SB)/4, $1
GLOBL permDW4<>(SB), RODATA|NOPTR, $32

// Q4KT_POS accumulates one position's products of a nibble vector (NIB)
// scaled by SC into I; the quants are at AOFF(QP)(DX*1).
#define Q4KT_POS(I, IN, NIB, SC, SCN, AOFF, QP) \
	VPMADDUBSW AOFF(QP)(DX*1), NIB, Y8; \
	MADDACC(SC, SCN, Y8, 8, I, IN)

#define Q4KT_PAIR(QOFF, AOFF, S0, S1) \
	VMOVDQU QOFF(SI), Y10; \
	VPSRLW $4, Y10, Y11; \
	VPAND Y15, Y10, Y10; \
	VPAND Y15, Y11, Y11; \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y13; \
	Q4KT_POS(Y0, 0, Y10, Y12, 12, AOFF, R11); \
	Q4KT_POS(Y1, 1, Y10, Y12, 12, AOFF, R12); \
	Q4KT_POS(Y2, 2, Y10, Y12, 12, AOFF, R13); \
	Q4KT_POS(Y3, 3, Y10, Y12, 12, AOFF, BX); \
	Q4KT_POS(Y0, 0, Y11, Y13, 13, (AOFF+32), R11); \
	Q4KT_POS(Y1, 1, Y11, Y13, 13, (AOFF+32), R12); \
	Q4KT_POS(Y2, 2, Y11, Y13, 13, (AOFF+32), R13); \
	Q4KT_POS(Y3, 3, Y11, Y13, 13, (AOFF+32), BX)


// Q5_K: as Q4_K, with the fifth bit of each value in qh[32] at 16 (bit s
// of qh[l] for value l of sub-block s) and the nibbles at 48. HB<s> moves
// bit s of each byte to bit 4 (16-bit shifts: the bit that reaches bit 4
// of each byte comes from the same byte), then k5bit<> masks it.
DATA k5bit<>+0(SB)/8, $0x1010101010101010
DATA k5bit<>+8(SB)/8, $0x1010101010101010
DATA k5bit<>+16(SB)/8, $0x1010101010101010
DATA k5bit<>+24(SB)/8, $0x1010101010101010
GLOBL k5bit<>(SB), RODATA|NOPTR, $32

#define HB0(s, d) VPSLLW $4, s, d
#define HB1(s, d) VPSLLW $3, s, d
#define HB2(s, d) VPSLLW $2, s, d
#define HB3(s, d) VPSLLW $1, s, d
#define HB4(s, d) VMOVDQU s, d
#define HB5(s, d) VPSRLW $1, s, d
#define HB6(s, d) VPSRLW $2, s, d
#define HB7(s, d) VPSRLW $3, s, d

// Q5K_NIBS sets Y10/Y11 to the 5-bit values of sub-blocks 2j, 2j+1 from
// the nibbles at QOFF(P) and the high bits at 16(P).
#define Q5K_NIBS(P, QOFF, H0, H1) \
	VMOVDQU QOFF(P), Y10; \
	VPSRLW $4, Y10, Y11; \
	VPAND Y15, Y10, Y10; \
	VPAND Y15, Y11, Y11; \
	VMOVDQU 16(P), Y12; \
	H0(Y12, Y12); \
	VPAND k5bit<>(SB), Y12, Y12; \
	VPOR Y12, Y10, Y10; \
	VMOVDQU 16(P), Y12; \
	H1(Y12, Y12); \
	VPAND k5bit<>(SB), Y12, Y12; \
	VPOR Y12, Y11, Y11

#define Q5K_PAIR(I, IN, QOFF, AOFF, S0, S1, H0, H1) \
	Q5K_NIBS(AX, QOFF, H0, H1); \
	VPMADDUBSW AOFF(DX), Y10, Y10; \
	VPMADDUBSW (AOFF+32)(DX), Y11, Y11; \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	MADDACC(Y12, 12, Y10, 10, I, IN); \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y12; \
	MADDACC(Y12, 12, Y11, 11, I, IN)

#define Q5K_ROW(I, IN, M) \
	Q4K_SCALES(M); \
	VPXOR I, I, I; \
	Q5K_PAIR(I, IN, 48, 0, 0, 32, HB0, HB1); \
	Q5K_PAIR(I, IN, 80, 64, 64, 96, HB2, HB3); \
	Q5K_PAIR(I, IN, 112, 128, 128, 160, HB4, HB5); \
	Q5K_PAIR(I, IN, 144, 192, 192, 224, HB6, HB7)


#define Q5KT_PAIR(QOFF, AOFF, S0, S1, H0, H1) \
	Q5K_NIBS(SI, QOFF, H0, H1); \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y13; \
	Q4KT_POS(Y0, 0, Y10, Y12, 12, AOFF, R11); \
	Q4KT_POS(Y1, 1, Y10, Y12, 12, AOFF, R12); \
	Q4KT_POS(Y2, 2, Y10, Y12, 12, AOFF, R13); \
	Q4KT_POS(Y3, 3, Y10, Y12, 12, AOFF, BX); \
	Q4KT_POS(Y0, 0, Y11, Y13, 13, (AOFF+32), R11); \
	Q4KT_POS(Y1, 1, Y11, Y13, 13, (AOFF+32), R12); \
	Q4KT_POS(Y2, 2, Y11, Y13, 13, (AOFF+32), R13); \
	Q4KT_POS(Y3, 3, Y11, Y13, 13, (AOFF+32), BX)

// The kernels, from the template q4_k_amd64.h, for AVX2 and AVX-VNNI.
#define MADDACC MADDACC_AVX2
#define K4ROWS ·q4_KRowsAVX2
#define K4TILE ·q4_KTileAVX2
#define K5ROWS ·q5_KRowsAVX2
#define K5TILE ·q5_KTileAVX2
#include "q4_k_amd64.h"
#undef MADDACC
#undef K4ROWS
#undef K4TILE
#undef K5ROWS
#undef K5TILE

#define MADDACC MADDACC_VEX
#define K4ROWS ·q4_KRowsAVXVNNI
#define K4TILE ·q4_KTileAVXVNNI
#define K5ROWS ·q5_KRowsAVXVNNI
#define K5TILE ·q5_KTileAVXVNNI
#include "q4_k_amd64.h"
