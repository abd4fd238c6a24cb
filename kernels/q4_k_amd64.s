//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// Constants for unpacking the 12-byte scales field of Q4_K/Q5_K blocks
// with vector shifts (see Q4K_SCALES) and for spreading the scales.
DATA k4shrA<>+0(SB)/4, $0
DATA k4shrA<>+4(SB)/4, $0
DATA k4shrA<>+8(SB)/4, $0
DATA k4shrA<>+12(SB)/4, $4
GLOBL k4shrA<>(SB), RODATA|NOPTR, $16
DATA k4maskA<>+0(SB)/4, $0x3f3f3f3f
DATA k4maskA<>+4(SB)/4, $0x0f0f0f0f
DATA k4maskA<>+8(SB)/4, $0x3f3f3f3f
DATA k4maskA<>+12(SB)/4, $0x0f0f0f0f
GLOBL k4maskA<>(SB), RODATA|NOPTR, $16
DATA k4shrB<>+0(SB)/4, $32
DATA k4shrB<>+4(SB)/4, $6
DATA k4shrB<>+8(SB)/4, $32
DATA k4shrB<>+12(SB)/4, $6
GLOBL k4shrB<>(SB), RODATA|NOPTR, $16
DATA k4maskB<>+0(SB)/4, $0x03030303
DATA k4maskB<>+4(SB)/4, $0x03030303
DATA k4maskB<>+8(SB)/4, $0x03030303
DATA k4maskB<>+12(SB)/4, $0x03030303
GLOBL k4maskB<>(SB), RODATA|NOPTR, $16

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
	VPSRLVD k4shrA<>(SB), X9, X9; \
	VPAND k4maskA<>(SB), X9, X9; \
	VPSHUFD $0x50, X8, X8; \
	VPSRLVD k4shrB<>(SB), X8, X8; \
	VPAND k4maskB<>(SB), X8, X8; \
	VPSLLD $4, X8, X8; \
	VPOR X8, X9, X9; \
	VPMOVZXBW X9, Y9; \
	VEXTRACTI128 $1, Y9, M; \
	VPMADDWD 32(R13), M, M; \
	VPERMQ $0x44, Y9, Y9

// Q4K_PAIR accumulates into I sub-blocks 2j and 2j+1 of the row at AX
// (32 bytes of nibbles at QOFF(AX)) against the quants at AOFF(DX):
// VPMADDUBSW (nibble ≤ 15 times |q| ≤ 127, pairs: no saturation), then
// VPMADDWD by the sub-block's scale.
#define Q4K_PAIR(I, QOFF, AOFF, S0, S1) \
	VMOVDQU QOFF(AX), Y10; \
	VPSRLW $4, Y10, Y11; \
	VPAND Y15, Y10, Y10; \
	VPAND Y15, Y11, Y11; \
	VPMADDUBSW AOFF(DX), Y10, Y10; \
	VPMADDUBSW (AOFF+32)(DX), Y11, Y11; \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	VPMADDWD Y12, Y10, Y10; \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y12; \
	VPMADDWD Y12, Y11, Y11; \
	VPADDD Y10, I, I; \
	VPADDD Y11, I, I

// Q4K_ROW computes the integer sums of one Q4_K super-block of the row at
// AX: I = isum lanes (8 × int32), M = msum lanes (4 × int32).
#define Q4K_ROW(I, M) \
	Q4K_SCALES(M); \
	VPXOR I, I, I; \
	Q4K_PAIR(I, 16, 0, 0, 32); \
	Q4K_PAIR(I, 48, 64, 64, 96); \
	Q4K_PAIR(I, 80, 128, 128, 160); \
	Q4K_PAIR(I, 112, 192, 192, 224)

// func q4_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// Q4_K rows × Q8_K activations, four rows per step (nrows a multiple of
// 4). Per super-block, each row's isum and msum (exact int32, as in
// dotQ4_KGeneric) are reduced into one vector [isum r0..r3 | msum r0..r3],
// converted, multiplied by [d·dx | dmin·dx] per row, and each row's lane
// of the accumulator does acc += t_isum, then acc -= t_msum (finishK4).
TEXT ·q4_KRowsAVX2(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

kgroup:
	VXORPS X14, X14, X14
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R12
	MOVQ ks+48(FP), R13
	MOVQ nb+56(FP), CX

kblock:
	// Prefetch the same super-block of the next four rows.
	LEAQ (BX)(R8*4), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 64(AX)(R8*1)
	PREFETCHT0 128(AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 64(AX)(R8*2)
	PREFETCHT0 128(AX)(R8*2)
	PREFETCHT0 (AX)(R9*1)
	PREFETCHT0 64(AX)(R9*1)
	PREFETCHT0 128(AX)(R9*1)

	MOVQ BX, AX
	Q4K_ROW(Y0, X4)
	KCOMBINE(Y0, X0, X4, X8)
	LEAQ (BX)(R8*1), AX
	Q4K_ROW(Y1, X5)
	KCOMBINE(Y1, X1, X5, X8)
	MERGE2(Y0, Y1, Y2, Y3)
	LEAQ (BX)(R8*2), AX
	Q4K_ROW(Y2, X6)
	KCOMBINE(Y2, X2, X6, X8)
	LEAQ (BX)(R9*1), AX
	Q4K_ROW(Y3, X7)
	KCOMBINE(Y3, X3, X7, X8)
	MERGE2(Y2, Y3, Y4, Y5)
	MERGE4(Y0, Y2, Y4, Y5)
	VCVTDQ2PS Y0, Y0

	// [d r0..r3 | dmin r0..r3] · dx
	HALVES4(0, BX, R8, R9, X1, AX, R11)
	HALVES4(2, BX, R8, R9, X2, AX, R11)
	VPUNPCKLQDQ X2, X1, X1
	VCVTPH2PS X1, Y1
	VBROADCASTSS (R12), Y2
	VMULPS Y2, Y1, Y1
	VMULPS Y0, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VADDPS X1, X14, X14
	VSUBPS X2, X14, X14

	ADDQ $144, BX
	ADDQ $256, DX
	ADDQ $4, R12
	ADDQ $64, R13
	DECQ CX
	JNZ kblock

	VMOVUPS X14, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA kgroup
	VZEROUPPER
	RET

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
#define Q4KT_POS(I, NIB, SC, AOFF, QP) \
	VPMADDUBSW AOFF(QP)(DX*1), NIB, Y8; \
	VPMADDWD SC, Y8, Y8; \
	VPADDD Y8, I, I

#define Q4KT_PAIR(QOFF, AOFF, S0, S1) \
	VMOVDQU QOFF(SI), Y10; \
	VPSRLW $4, Y10, Y11; \
	VPAND Y15, Y10, Y10; \
	VPAND Y15, Y11, Y11; \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y13; \
	Q4KT_POS(Y0, Y10, Y12, AOFF, R11); \
	Q4KT_POS(Y1, Y10, Y12, AOFF, R12); \
	Q4KT_POS(Y2, Y10, Y12, AOFF, R13); \
	Q4KT_POS(Y3, Y10, Y12, AOFF, BX); \
	Q4KT_POS(Y0, Y11, Y13, (AOFF+32), R11); \
	Q4KT_POS(Y1, Y11, Y13, (AOFF+32), R12); \
	Q4KT_POS(Y2, Y11, Y13, (AOFF+32), R13); \
	Q4KT_POS(Y3, Y11, Y13, (AOFF+32), BX)

// func q4_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
//
// Q4_K rows × four Q8_K positions, one row per step: the row's scales and
// nibbles are unpacked once per super-block and used for the four
// positions. Lane p of the accumulator follows dotQ4_KGeneric for
// position p. k4 is prepTile's g4k (pair sums of the four positions at
// 16p bytes, 192 bytes per super-block), d4 its g4d.
TEXT ·q4_KTileAVX2(SB), NOSPLIT, $0-64
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

trow:
	VXORPS X14, X14, X14
	XORQ DX, DX
	MOVQ d4+40(FP), R9
	MOVQ k4+48(FP), AX
	MOVQ nb+56(FP), CX

tsb:
	// Scales as in Q4K_SCALES; mins against each position's pair sums.
	VMOVDQU 4(SI), X8
	VPSHUFD $0x98, X8, X9
	VPSRLVD k4shrA<>(SB), X9, X9
	VPAND k4maskA<>(SB), X9, X9
	VPSHUFD $0x50, X8, X8
	VPSRLVD k4shrB<>(SB), X8, X8
	VPAND k4maskB<>(SB), X8, X8
	VPSLLD $4, X8, X8
	VPOR X8, X9, X9
	VPMOVZXBW X9, Y9
	VEXTRACTI128 $1, Y9, X13
	VPMADDWD (AX), X13, X4
	VPMADDWD 16(AX), X13, X5
	VPMADDWD 32(AX), X13, X6
	VPMADDWD 48(AX), X13, X7
	VPERMQ $0x44, Y9, Y9

	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q4KT_PAIR(16, 0, 0, 32)
	Q4KT_PAIR(48, 64, 64, 96)
	Q4KT_PAIR(80, 128, 128, 160)
	Q4KT_PAIR(112, 192, 192, 224)

	KCOMBINE(Y0, X0, X4, X8)
	KCOMBINE(Y1, X1, X5, X8)
	KCOMBINE(Y2, X2, X6, X8)
	KCOMBINE(Y3, X3, X7, X8)
	REDUCE4H(Y0, Y1, Y2, Y3, Y4, Y5)
	VCVTDQ2PS Y0, Y0

	// [d ×4 | dmin ×4] · [dx p0..p3 | dx p0..p3]
	MOVL (SI), R8
	VMOVD R8, X1
	VCVTPH2PS X1, X1
	VMOVDQU permDW4<>(SB), Y2
	VPERMPS Y1, Y2, Y1
	VBROADCASTF128 (R9), Y2
	VMULPS Y2, Y1, Y1
	VMULPS Y0, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VADDPS X1, X14, X14
	VSUBPS X2, X14, X14

	ADDQ $144, SI
	ADDQ $256, DX
	ADDQ $16, R9
	ADDQ $192, AX
	DECQ CX
	JNZ tsb

	// Lane p to y[p*ystride].
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
	JNZ trow
	VZEROUPPER
	RET

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

#define Q5K_PAIR(I, QOFF, AOFF, S0, S1, H0, H1) \
	Q5K_NIBS(AX, QOFF, H0, H1); \
	VPMADDUBSW AOFF(DX), Y10, Y10; \
	VPMADDUBSW (AOFF+32)(DX), Y11, Y11; \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	VPMADDWD Y12, Y10, Y10; \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y12; \
	VPMADDWD Y12, Y11, Y11; \
	VPADDD Y10, I, I; \
	VPADDD Y11, I, I

#define Q5K_ROW(I, M) \
	Q4K_SCALES(M); \
	VPXOR I, I, I; \
	Q5K_PAIR(I, 48, 0, 0, 32, HB0, HB1); \
	Q5K_PAIR(I, 80, 64, 64, 96, HB2, HB3); \
	Q5K_PAIR(I, 112, 128, 128, 160, HB4, HB5); \
	Q5K_PAIR(I, 144, 192, 192, 224, HB6, HB7)

// func q5_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// Q5_K rows × Q8_K activations, four rows per step: q4_KRowsAVX2 with
// 5-bit values (VPMADDUBSW pairs reach 2·31·127, no saturation).
TEXT ·q5_KRowsAVX2(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

group5:
	VXORPS X14, X14, X14
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R12
	MOVQ ks+48(FP), R13
	MOVQ nb+56(FP), CX

sb5:
	LEAQ (BX)(R8*4), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 64(AX)(R8*1)
	PREFETCHT0 128(AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 64(AX)(R8*2)
	PREFETCHT0 128(AX)(R8*2)
	PREFETCHT0 (AX)(R9*1)
	PREFETCHT0 64(AX)(R9*1)
	PREFETCHT0 128(AX)(R9*1)

	MOVQ BX, AX
	Q5K_ROW(Y0, X4)
	KCOMBINE(Y0, X0, X4, X8)
	LEAQ (BX)(R8*1), AX
	Q5K_ROW(Y1, X5)
	KCOMBINE(Y1, X1, X5, X8)
	MERGE2(Y0, Y1, Y2, Y3)
	LEAQ (BX)(R8*2), AX
	Q5K_ROW(Y2, X6)
	KCOMBINE(Y2, X2, X6, X8)
	LEAQ (BX)(R9*1), AX
	Q5K_ROW(Y3, X7)
	KCOMBINE(Y3, X3, X7, X8)
	MERGE2(Y2, Y3, Y4, Y5)
	MERGE4(Y0, Y2, Y4, Y5)
	VCVTDQ2PS Y0, Y0

	// [d r0..r3 | dmin r0..r3] · dx
	HALVES4(0, BX, R8, R9, X1, AX, R11)
	HALVES4(2, BX, R8, R9, X2, AX, R11)
	VPUNPCKLQDQ X2, X1, X1
	VCVTPH2PS X1, Y1
	VBROADCASTSS (R12), Y2
	VMULPS Y2, Y1, Y1
	VMULPS Y0, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VADDPS X1, X14, X14
	VSUBPS X2, X14, X14

	ADDQ $176, BX
	ADDQ $256, DX
	ADDQ $4, R12
	ADDQ $64, R13
	DECQ CX
	JNZ sb5

	VMOVUPS X14, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA group5
	VZEROUPPER
	RET

#define Q5KT_PAIR(QOFF, AOFF, S0, S1, H0, H1) \
	Q5K_NIBS(SI, QOFF, H0, H1); \
	VPSHUFB kScaleShuf<>+(S0)(SB), Y9, Y12; \
	VPSHUFB kScaleShuf<>+(S1)(SB), Y9, Y13; \
	Q4KT_POS(Y0, Y10, Y12, AOFF, R11); \
	Q4KT_POS(Y1, Y10, Y12, AOFF, R12); \
	Q4KT_POS(Y2, Y10, Y12, AOFF, R13); \
	Q4KT_POS(Y3, Y10, Y12, AOFF, BX); \
	Q4KT_POS(Y0, Y11, Y13, (AOFF+32), R11); \
	Q4KT_POS(Y1, Y11, Y13, (AOFF+32), R12); \
	Q4KT_POS(Y2, Y11, Y13, (AOFF+32), R13); \
	Q4KT_POS(Y3, Y11, Y13, (AOFF+32), BX)

// func q5_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
//
// Q5_K rows × four Q8_K positions, one row per step (see q4_KTileAVX2).
TEXT ·q5_KTileAVX2(SB), NOSPLIT, $0-64
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

trow5:
	VXORPS X14, X14, X14
	XORQ DX, DX
	MOVQ d4+40(FP), R9
	MOVQ k4+48(FP), AX
	MOVQ nb+56(FP), CX

tsb5:
	VMOVDQU 4(SI), X8
	VPSHUFD $0x98, X8, X9
	VPSRLVD k4shrA<>(SB), X9, X9
	VPAND k4maskA<>(SB), X9, X9
	VPSHUFD $0x50, X8, X8
	VPSRLVD k4shrB<>(SB), X8, X8
	VPAND k4maskB<>(SB), X8, X8
	VPSLLD $4, X8, X8
	VPOR X8, X9, X9
	VPMOVZXBW X9, Y9
	VEXTRACTI128 $1, Y9, X13
	VPMADDWD (AX), X13, X4
	VPMADDWD 16(AX), X13, X5
	VPMADDWD 32(AX), X13, X6
	VPMADDWD 48(AX), X13, X7
	VPERMQ $0x44, Y9, Y9

	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q5KT_PAIR(48, 0, 0, 32, HB0, HB1)
	Q5KT_PAIR(80, 64, 64, 96, HB2, HB3)
	Q5KT_PAIR(112, 128, 128, 160, HB4, HB5)
	Q5KT_PAIR(144, 192, 192, 224, HB6, HB7)

	KCOMBINE(Y0, X0, X4, X8)
	KCOMBINE(Y1, X1, X5, X8)
	KCOMBINE(Y2, X2, X6, X8)
	KCOMBINE(Y3, X3, X7, X8)
	REDUCE4H(Y0, Y1, Y2, Y3, Y4, Y5)
	VCVTDQ2PS Y0, Y0

	// [d ×4 | dmin ×4] · [dx p0..p3 | dx p0..p3]
	MOVL (SI), R8
	VMOVD R8, X1
	VCVTPH2PS X1, X1
	VMOVDQU permDW4<>(SB), Y2
	VPERMPS Y1, Y2, Y1
	VBROADCASTF128 (R9), Y2
	VMULPS Y2, Y1, Y1
	VMULPS Y0, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VADDPS X1, X14, X14
	VSUBPS X2, X14, X14

	ADDQ $176, SI
	ADDQ $256, DX
	ADDQ $16, R9
	ADDQ $192, AX
	DECQ CX
	JNZ tsb5

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
	JNZ trow5
	VZEROUPPER
	RET
