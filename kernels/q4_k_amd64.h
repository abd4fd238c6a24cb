// Template of the Q4_K and Q5_K rows and tiles (included by q4_k_amd64.s
// once per instruction set): K4ROWS, K4TILE, K5ROWS and K5TILE name the
// functions, MADDACC(S, SN, P, PN, I, IN) adds to the int32 lanes of I
// (register number IN) the products of the int16 pairs of P and S.
// The names in the comments are those of the AVX2 instances.

// func q4_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// Q4_K rows × Q8_K activations, four rows per step (nrows a multiple of
// 4). Per super-block, each row's isum and msum (exact int32, as in
// dotQ4_KGeneric) are reduced into one vector [isum r0..r3 | msum r0..r3],
// converted, multiplied by [d·dx | dmin·dx] per row, and each row's lane
// of the accumulator does acc += t_isum, then acc -= t_msum (finishK4).
TEXT K4ROWS(SB), NOSPLIT, $0-64
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
	PREFETCH_NEXT4_144

	MOVQ BX, AX
	Q4K_ROW(Y0, 0, X4)
	KCOMBINE(Y0, X0, X4, X8)
	LEAQ (BX)(R8*1), AX
	Q4K_ROW(Y1, 1, X5)
	KCOMBINE(Y1, X1, X5, X8)
	MERGE2(Y0, Y1, Y2, Y3)
	LEAQ (BX)(R8*2), AX
	Q4K_ROW(Y2, 2, X6)
	KCOMBINE(Y2, X2, X6, X8)
	LEAQ (BX)(R9*1), AX
	Q4K_ROW(Y3, 3, X7)
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

// func q4_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
//
// Q4_K rows × four Q8_K positions, one row per step: the row's scales and
// nibbles are unpacked once per super-block and used for the four
// positions. Lane p of the accumulator follows dotQ4_KGeneric for
// position p. k4 is prepTile's g4k (pair sums of the four positions at
// 16p bytes, 192 bytes per super-block), d4 its g4d.
TEXT K4TILE(SB), NOSPLIT, $0-64
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
	VPSRLVD ·k4shrA(SB), X9, X9
	VPAND ·k4maskA(SB), X9, X9
	VPSHUFD $0x50, X8, X8
	VPSRLVD ·k4shrB(SB), X8, X8
	VPAND ·k4maskB(SB), X8, X8
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

// func q5_KRowsAVX2(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// Q5_K rows × Q8_K activations, four rows per step: q4_KRowsAVX2 with
// 5-bit values (VPMADDUBSW pairs reach 2·31·127, no saturation).
TEXT K5ROWS(SB), NOSPLIT, $0-64
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
	PREFETCH_NEXT4_144

	MOVQ BX, AX
	Q5K_ROW(Y0, 0, X4)
	KCOMBINE(Y0, X0, X4, X8)
	LEAQ (BX)(R8*1), AX
	Q5K_ROW(Y1, 1, X5)
	KCOMBINE(Y1, X1, X5, X8)
	MERGE2(Y0, Y1, Y2, Y3)
	LEAQ (BX)(R8*2), AX
	Q5K_ROW(Y2, 2, X6)
	KCOMBINE(Y2, X2, X6, X8)
	LEAQ (BX)(R9*1), AX
	Q5K_ROW(Y3, 3, X7)
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

// func q5_KTileAVX2(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
//
// Q5_K rows × four Q8_K positions, one row per step (see q4_KTileAVX2).
TEXT K5TILE(SB), NOSPLIT, $0-64
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
	VPSRLVD ·k4shrA(SB), X9, X9
	VPAND ·k4maskA(SB), X9, X9
	VPSHUFD $0x50, X8, X8
	VPSRLVD ·k4shrB(SB), X8, X8
	VPAND ·k4maskB(SB), X8, X8
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
