//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

DATA permDW0<>+0(SB)/4, $0
DATA permDW0<>+4(SB)/4, $0
DATA permDW0<>+8(SB)/4, $0
DATA permDW0<>+12(SB)/4, $0
DATA permDW0<>+16(SB)/4, $1
DATA permDW0<>+20(SB)/4, $1
DATA permDW0<>+24(SB)/4, $1
DATA permDW0<>+28(SB)/4, $1
GLOBL permDW0<>(SB), RODATA|NOPTR, $32

// Q4_0 block (18 bytes): f16 d, then 16 bytes whose low nibbles are values
// 0..15 and high nibbles values 16..31, each stored as w+8. The kernels
// multiply the unsigned nibbles u (VPMADDUBSW: pairs ≤ 2·15·127) and take
// s = Σ u·q - 8·Σ q, exact, as dotQ4_0Generic's Σ (u-8)·q.

// Q40_NIB sets Y to the 32 nibbles of the block at P (values in order).
#define Q40_NIB(P, Y, X, T) \
	VMOVDQU 2(P), X; \
	VPSRLW $4, X, T; \
	VINSERTI128 $1, T, Y, Y; \
	VPAND Y13, Y, Y

// func q4_0RowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, sum *int32, nb int)
//
// Q4_0 rows × Q8_0 activations, four rows per step (nrows a multiple of
// 4); see q8_0RowsAVX2 for the reduction and the float order.
TEXT ·q4_0RowsAVX2(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

group0:
	VXORPS X14, X14, X14
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R12
	MOVQ sum+48(FP), R13
	MOVQ nb+56(FP), CX

block0:
	LEAQ (BX)(R8*4), AX
	PREFETCHT0 (AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 (AX)(R9*1)

	Q40_NIB(BX, Y1, X1, X5)
	VPMADDUBSW (DX), Y1, Y1
	VPMADDWD Y15, Y1, Y1
	LEAQ (BX)(R8*1), AX
	Q40_NIB(AX, Y2, X2, X6)
	VPMADDUBSW (DX), Y2, Y2
	VPMADDWD Y15, Y2, Y2
	LEAQ (BX)(R8*2), AX
	Q40_NIB(AX, Y3, X3, X7)
	VPMADDUBSW (DX), Y3, Y3
	VPMADDWD Y15, Y3, Y3
	LEAQ (BX)(R9*1), AX
	Q40_NIB(AX, Y4, X4, X8)
	VPMADDUBSW (DX), Y4, Y4
	VPMADDWD Y15, Y4, Y4
	REDUCE4(Y1, Y2, Y3, Y4, Y5, Y6, X1, X5)
	VPBROADCASTD (R13), X2
	VPSLLD $3, X2, X2
	VPSUBD X2, X1, X1
	VCVTDQ2PS X1, X1

	HALVES4(0, BX, R8, R9, X9, AX, R11)
	VCVTPH2PS X9, X9
	VBROADCASTSS (R12), X10
	VMULPS X10, X9, X9
	VMULPS X1, X9, X9
	VADDPS X9, X14, X14

	ADDQ $18, BX
	ADDQ $32, DX
	ADDQ $4, R12
	ADDQ $4, R13
	DECQ CX
	JNZ block0

	VMOVUPS X14, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA group0
	VZEROUPPER
	RET

// Q40T_POS sets D to position QP's block sum against nibbles NIB.
#define Q40T_POS(D, NIB, QP) \
	VPMADDUBSW (QP)(DX*1), NIB, D; \
	VPMADDWD Y15, D, D

// func q4_0TileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, s4 *int32, nb int)
//
// Q4_0 rows × four Q8_0 positions, two rows per step (nrows even); see
// q8_0TileAVX2. s4 holds the positions' quant sums interleaved.
TEXT ·q4_0TileAVX2(SB), NOSPLIT, $16-72
	MOVQ y+0(FP), DI
	MOVQ DI, yp-8(SP)
	MOVQ w+16(FP), SI
	MOVQ rowBytes+24(FP), R8
	MOVQ nrows+32(FP), R10
	MOVQ q+40(FP), AX
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ 24(AX), R11
	MOVQ (AX), AX
	MOVL $0x00010001, CX
	VMOVD CX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, CX
	VMOVD CX, X13
	VPBROADCASTD X13, Y13

tgroup0:
	VXORPS Y0, Y0, Y0
	MOVQ SI, BX
	XORQ DX, DX
	MOVQ d4+48(FP), R9
	MOVQ nb+64(FP), CX
	MOVQ CX, cnt-16(SP)

	// DI and CX are scratch registers here: the output pointer and the
	// block count live in the frame (yp, cnt).
tblock0:
	Q40_NIB(BX, Y2, X2, X4)
	LEAQ (BX)(R8*1), DI
	Q40_NIB(DI, Y3, X3, X4)

	Q40T_POS(Y4, Y2, AX)
	Q40T_POS(Y5, Y2, R12)
	MERGE2(Y4, Y5, Y6, Y7)
	Q40T_POS(Y5, Y2, R13)
	Q40T_POS(Y6, Y2, R11)
	MERGE2(Y5, Y6, Y7, Y1)
	MERGE4(Y4, Y5, Y6, Y7)
	Q40T_POS(Y5, Y3, AX)
	Q40T_POS(Y6, Y3, R12)
	MERGE2(Y5, Y6, Y7, Y1)
	Q40T_POS(Y6, Y3, R13)
	Q40T_POS(Y7, Y3, R11)
	MERGE2(Y6, Y7, Y1, Y9)
	MERGE4(Y5, Y6, Y7, Y1)
	VPBLENDD $0xf0, Y5, Y4, Y6
	VPERM2I128 $0x21, Y5, Y4, Y7
	VPADDD Y7, Y6, Y6
	// This block's sums are at s4 + DX/2 (DX advances 32 per block, s4 16).
	MOVQ DX, DI
	SHRQ $1, DI
	ADDQ s4+56(FP), DI
	VBROADCASTI128 (DI), Y7
	VPSLLD $3, Y7, Y7
	VPSUBD Y7, Y6, Y6
	VCVTDQ2PS Y6, Y6

	HALVES2(0, 0, BX, R8, X12, CX, DI)
	VCVTPH2PS X12, X12
	VMOVDQU permDW0<>(SB), Y8
	VPERMPS Y12, Y8, Y12
	VBROADCASTF128 (R9), Y14
	VMULPS Y14, Y12, Y12
	VMULPS Y6, Y12, Y12
	VADDPS Y12, Y0, Y0

	ADDQ $18, BX
	ADDQ $32, DX
	ADDQ $16, R9
	DECQ cnt-16(SP)
	JNZ tblock0

	MOVQ yp-8(SP), DI
	MOVQ ystride+8(FP), CX
	SHLQ $2, CX
	VEXTRACTF128 $1, Y0, X1
	MOVQ DI, DX
	VMOVSS X0, (DX)
	VMOVSS X1, 4(DX)
	ADDQ CX, DX
	VEXTRACTPS $1, X0, (DX)
	VEXTRACTPS $1, X1, 4(DX)
	ADDQ CX, DX
	VEXTRACTPS $2, X0, (DX)
	VEXTRACTPS $2, X1, 4(DX)
	ADDQ CX, DX
	VEXTRACTPS $3, X0, (DX)
	VEXTRACTPS $3, X1, 4(DX)

	ADDQ $8, DI
	MOVQ DI, yp-8(SP)
	LEAQ (SI)(R8*2), SI
	SUBQ $2, R10
	JA tgroup0
	VZEROUPPER
	RET

// func q4_0RowsVNNI(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, sum *int32, nb int)
//
// q4_0RowsAVX2 with AVX-512 VNNI: one VPDPBUSD forms each row's products
// of the unsigned nibbles with the quants.
TEXT ·q4_0RowsVNNI(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

vgroup0:
	VXORPS X14, X14, X14
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R12
	MOVQ sum+48(FP), R13
	MOVQ nb+56(FP), CX

vblock0:
	LEAQ (BX)(R8*4), AX
	PREFETCHT0 (AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 (AX)(R9*1)

	Q40_NIB(BX, Y1, X1, X5)
	VPXOR Y9, Y9, Y9
	VPDPBUSD (DX), Y1, Y9
	LEAQ (BX)(R8*1), AX
	Q40_NIB(AX, Y2, X2, X6)
	VPXOR Y10, Y10, Y10
	VPDPBUSD (DX), Y2, Y10
	LEAQ (BX)(R8*2), AX
	Q40_NIB(AX, Y3, X3, X7)
	VPXOR Y11, Y11, Y11
	VPDPBUSD (DX), Y3, Y11
	LEAQ (BX)(R9*1), AX
	Q40_NIB(AX, Y4, X4, X8)
	VPXOR Y12, Y12, Y12
	VPDPBUSD (DX), Y4, Y12
	REDUCE4(Y9, Y10, Y11, Y12, Y5, Y6, X9, X5)
	VPBROADCASTD (R13), X2
	VPSLLD $3, X2, X2
	VPSUBD X2, X9, X1
	VCVTDQ2PS X1, X1

	HALVES4(0, BX, R8, R9, X9, AX, R11)
	VCVTPH2PS X9, X9
	VBROADCASTSS (R12), X10
	VMULPS X10, X9, X9
	VMULPS X1, X9, X9
	VADDPS X9, X14, X14

	ADDQ $18, BX
	ADDQ $32, DX
	ADDQ $4, R12
	ADDQ $4, R13
	DECQ CX
	JNZ vblock0

	VMOVUPS X14, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA vgroup0
	VZEROUPPER
	RET
