// Template of the Q6_K rows and tile (included by q6_k_amd64.s once per
// instruction set): K6ROWS and K6TILE name the functions, MADDACC adds
// scaled int16 pairs (see kernels_amd64.h). The names in the comments
// are those of the AVX2 instances.

// func q6_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// Q6_K rows × Q8_K activations, four rows per step (nrows a multiple of
// 4). Each row's exact isum per super-block lands in one lane; the lanes
// do acc += (d·dx)·float32(isum) in block order, as dotQ6_KGeneric.
TEXT K6ROWS(SB), NOSPLIT, $0-64
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
	Q6K_ROW(Y0, 0)
	LEAQ (BX)(R8*1), AX
	Q6K_ROW(Y1, 1)
	MERGE2(Y0, Y1, Y2, Y3)
	LEAQ (BX)(R8*2), AX
	Q6K_ROW(Y1, 1)
	LEAQ (BX)(R9*1), AX
	Q6K_ROW(Y2, 2)
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

// func q6_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
//
// Q6_K rows × four Q8_K positions, one row per step: each super-block's
// 6-bit values and scale words are formed once for the four positions.
// Lane p follows dotQ6_KGeneric for position p. k4 is prepTile's g4k
// (bsums of position p at 64+32p bytes, 192 bytes per super-block).
TEXT K6TILE(SB), NOSPLIT, $0-64
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
