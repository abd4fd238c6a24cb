//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// func q8_0RowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)
//
// Q8_0 rows × Q8_0 activations, four rows per step; nrows is a multiple
// of 4. Per block and row: |w| and sign(w)·q (VPSIGNB), VPMADDUBSW into
// int16 pairs (at most 2·128·127, no saturation), VPMADDWD by 1 into
// int32; REDUCE4 then sums each row's eight lanes to its exact block sum
// s, one row per lane. With dw the rows' f16 scales (VCVTPH2PS,
// exact) and dx the block's activation scale, each lane does
// acc += (dw·dx)·float32(s), as the generic code does.
TEXT ·q8_0RowsAVX2(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	MOVQ d+40(FP), R12
	MOVQ nb+48(FP), R13
	LEAQ (R8)(R8*2), R9
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

group:
	VXORPS X14, X14, X14
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	XORQ CX, CX

block:
	LEAQ (BX)(R8*4), AX
	PREFETCHT0 (AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 (AX)(R9*1)
	VMOVDQU (DX), Y0
	VMOVDQU 2(BX), Y1
	VMOVDQU 2(BX)(R8*1), Y2
	VMOVDQU 2(BX)(R8*2), Y3
	VMOVDQU 2(BX)(R9*1), Y4
	VPSIGNB Y1, Y0, Y5
	VPSIGNB Y1, Y1, Y1
	VPMADDUBSW Y5, Y1, Y1
	VPMADDWD Y15, Y1, Y1
	VPSIGNB Y2, Y0, Y6
	VPSIGNB Y2, Y2, Y2
	VPMADDUBSW Y6, Y2, Y2
	VPMADDWD Y15, Y2, Y2
	VPSIGNB Y3, Y0, Y7
	VPSIGNB Y3, Y3, Y3
	VPMADDUBSW Y7, Y3, Y3
	VPMADDWD Y15, Y3, Y3
	VPSIGNB Y4, Y0, Y8
	VPSIGNB Y4, Y4, Y4
	VPMADDUBSW Y8, Y4, Y4
	VPMADDWD Y15, Y4, Y4
	REDUCE4(Y1, Y2, Y3, Y4, Y5, Y6, X1, X5)
	VCVTDQ2PS X1, X1
	HALVES4(0, BX, R8, R9, X9, AX, R11)
	VCVTPH2PS X9, X9
	VBROADCASTSS (R12)(CX*4), X10
	VMULPS X10, X9, X9
	VMULPS X1, X9, X9
	VADDPS X9, X14, X14
	ADDQ $34, BX
	ADDQ $32, DX
	INCQ CX
	CMPQ CX, R13
	JB block

	VMOVUPS X14, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA group
	VZEROUPPER
	RET

// permDW spreads two float lanes [a b . .] to [a a a a b b b b] (VPERMPS).
DATA permDW<>+0(SB)/4, $0
DATA permDW<>+4(SB)/4, $0
DATA permDW<>+8(SB)/4, $0
DATA permDW<>+12(SB)/4, $0
DATA permDW<>+16(SB)/4, $1
DATA permDW<>+20(SB)/4, $1
DATA permDW<>+24(SB)/4, $1
DATA permDW<>+28(SB)/4, $1
GLOBL permDW<>(SB), RODATA|NOPTR, $32

// func q8_0TileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)
//
// Q8_0 rows × four Q8_0 positions, two rows per step (nrows even): each
// weight block is loaded once for four positions and each activation
// block once for two rows. The eight (row, position) block sums are
// reduced into one vector, lane 4r+p, and each lane accumulates
// (dw·dx)·float32(s) in block order as the generic code does. d4 holds
// the positions' block scales interleaved (4 per block). Results go to
// y[p*ystride + r]. The output pointer and the block count live in the
// frame (yp, cnt): the general registers are all in use.
TEXT ·q8_0TileAVX2(SB), NOSPLIT, $16-64
	MOVQ y+0(FP), DI
	MOVQ DI, yp-16(SP)
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
	VMOVDQU permDW<>(SB), Y13

tgroup:
	VXORPS Y0, Y0, Y0
	MOVQ SI, BX
	XORQ DX, DX
	MOVQ d4+48(FP), R9
	MOVQ nb+56(FP), CX
	MOVQ CX, cnt-8(SP)

tblock:
	VMOVDQU 2(BX), Y2
	VMOVDQU 2(BX)(R8*1), Y3
	VPSIGNB Y2, Y2, Y2
	VPSIGNB Y3, Y3, Y3
	VMOVDQU (AX)(DX*1), Y8
	VMOVDQU (R12)(DX*1), Y9
	VMOVDQU (R13)(DX*1), Y10
	VMOVDQU (R11)(DX*1), Y11

	// row 0 × positions 0..3, merged as they come
	VPSIGNB 2(BX), Y8, Y4
	VPMADDUBSW Y4, Y2, Y4
	VPMADDWD Y15, Y4, Y4
	VPSIGNB 2(BX), Y9, Y5
	VPMADDUBSW Y5, Y2, Y5
	VPMADDWD Y15, Y5, Y5
	MERGE2(Y4, Y5, Y6, Y7)
	VPSIGNB 2(BX), Y10, Y5
	VPMADDUBSW Y5, Y2, Y5
	VPMADDWD Y15, Y5, Y5
	VPSIGNB 2(BX), Y11, Y6
	VPMADDUBSW Y6, Y2, Y6
	VPMADDWD Y15, Y6, Y6
	MERGE2(Y5, Y6, Y7, Y1)
	MERGE4(Y4, Y5, Y6, Y7)

	// row 1
	VPSIGNB 2(BX)(R8*1), Y8, Y5
	VPMADDUBSW Y5, Y3, Y5
	VPMADDWD Y15, Y5, Y5
	VPSIGNB 2(BX)(R8*1), Y9, Y6
	VPMADDUBSW Y6, Y3, Y6
	VPMADDWD Y15, Y6, Y6
	MERGE2(Y5, Y6, Y7, Y1)
	VPSIGNB 2(BX)(R8*1), Y10, Y6
	VPMADDUBSW Y6, Y3, Y6
	VPMADDWD Y15, Y6, Y6
	VPSIGNB 2(BX)(R8*1), Y11, Y7
	VPMADDUBSW Y7, Y3, Y7
	VPMADDWD Y15, Y7, Y7
	MERGE2(Y6, Y7, Y1, Y12)
	MERGE4(Y5, Y6, Y7, Y1)

	// [r0 p0..p3 | r1 p0..p3]: the two 128-bit halves of Y4, Y5 added
	VPBLENDD $0xf0, Y5, Y4, Y6
	VPERM2I128 $0x21, Y5, Y4, Y7
	VPADDD Y7, Y6, Y6
	VCVTDQ2PS Y6, Y6

	HALVES2(0, 0, BX, R8, X12, CX, DI)
	VCVTPH2PS X12, X12
	VPERMPS Y12, Y13, Y12
	VBROADCASTF128 (R9), Y14
	VMULPS Y14, Y12, Y12
	VMULPS Y6, Y12, Y12
	VADDPS Y12, Y0, Y0

	ADDQ $34, BX
	ADDQ $32, DX
	ADDQ $16, R9
	DECQ cnt-8(SP)
	JNZ tblock

	// Store lane 4r+p to y[p*ystride + r].
	MOVQ yp-16(SP), DI
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
	MOVQ DI, yp-16(SP)
	LEAQ (SI)(R8*2), SI
	SUBQ $2, R10
	JA tgroup
	VZEROUPPER
	RET
