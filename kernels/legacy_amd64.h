// Template of the amd64 kernels of the legacy 32-value block types Q4_0,
// Q4_1, Q5_0 and Q5_1, and of the VNNI kernels of Q8_0, included by
// legacy_amd64.s once per kernel with:
//
//   NAME     the function
//   LQ8_0, LQ4_0, LQ4_1, LQ5_0 or LQ5_1: the weight type
//   TILE     defined: the 2-row × 4-position tile; TILE8: the 4-row ×
//            8-position one (VNNI only; DOTR as DOTM with a register
//            operand); else the 4-row kernel
//   DOTM     DOTM(M, W, WN, D, DN): D = the eight int32 sums of four
//            products of the unsigned bytes W (register number WN) with
//            the signed bytes at M (a memory operand, or Y0), D ≠ W; see
//            legacy_amd64.s for the AVX2, AVX-VNNI and AVX-512 forms
//
// and #undefs them all but DOTM at its end. The type sets:
//
//   BB       block bytes; QS the offset of the 16 nibble bytes
//   QH       defined (Q5_*): the offset of the 32 fifth bits
//   MINS     defined (Q4_1, Q5_1): the f16 min at offset 2 pairs with the
//            Q8_1 activation's s; the last argument points to s (rows) or
//            to the four positions' s interleaved (tiles, actVec.g4m)
//   SUMSHIFT else (Q4_0, Q5_0): the weights are stored as w+8 (w+16), and
//            s = Σ u·q - (Σ q)<<SUMSHIFT; the last argument points to the
//            quant sums (rows) or to them interleaved (actVec.g4s). The
//            signed Q8_0 weights are made unsigned likewise, u = w+128
//            (w XOR 0x80): VPMADDUBSW would saturate on those pairs
//            (2·255·127), so Q8_0 is only instantiated with VPDPBUSD,
//            whose sums of four go to int32 directly
//
// Every form computes the unsigned weight u (nibble, | fifth bit << 4)
// times the quant, exactly (VPMADDUBSW pairs ≤ 2·31·127), so the block
// sum s is the generic code's, and each lane combines the floats in its
// order: sumf += (dw·dx)·float32(s), summs += dm·s_x, result sumf + summs.

#ifdef LQ8_0
#define BB 34
#define QS 2
#define SUMSHIFT 7
#endif
#ifdef LQ4_0
#define BB 18
#define QS 2
#define SUMSHIFT 3
#endif
#ifdef LQ4_1
#define BB 20
#define QS 4
#define MINS
#endif
#ifdef LQ5_0
#define BB 22
#define QS 6
#define QH 2
#define SUMSHIFT 4
#endif
#ifdef LQ5_1
#define BB 24
#define QS 8
#define QH 4
#define MINS
#endif

// LW sets Y (X its X register) to the 32 unsigned weights of the block at
// P, in value order; T (XT) is scratch. Y13 holds 0x0f bytes (0x80 for
// Q8_0).
#ifdef LQ8_0
#define LW(P, Y, X, T, XT) VPXOR QS(P), Y13, Y
#define LWMASK $0x80808080
#else
#define LWMASK $0x0f0f0f0f
#endif
#ifdef QH
#define LW(P, Y, X, T, XT) \
	VMOVDQU QS(P), X; \
	VPSRLW $4, X, XT; \
	VINSERTI128 $1, XT, Y, Y; \
	VPAND Y13, Y, Y; \
	VPBROADCASTD QH(P), T; \
	VPSHUFB hiShuf<>(SB), T, T; \
	VPAND hiBits<>(SB), T, T; \
	VPCMPEQB hiBits<>(SB), T, T; \
	VPAND hi16<>(SB), T, T; \
	VPOR T, Y, Y
#endif
#ifndef QH
#ifndef LQ8_0
#define LW(P, Y, X, T, XT) \
	VMOVDQU QS(P), X; \
	VPSRLW $4, X, XT; \
	VINSERTI128 $1, XT, Y, Y; \
	VPAND Y13, Y, Y
#endif
#endif

#ifdef TILE8

// T8ROW broadcasts four weights of a row from the frame scratch and adds
// their products with the chunk of quants in Y8 to ACC.
#define T8ROW(OFF, ACC, ACCN) \
	VPBROADCASTD OFF(SP), Y9; \
	DOTR(Y8, 8, Y9, 9, ACC, ACCN)

// T8CHUNK: chunk C (quants 4C..4C+3 of the block) of the eight positions
// against the four rows' weights 4C..4C+3 (broadcast from the scratch).
#define T8CHUNK(C) \
	VMOVDQU (64*C)(DX), Y8; \
	T8ROW((4*C), Y0, 0); \
	T8ROW((32+4*C), Y1, 1); \
	T8ROW((64+4*C), Y2, 2); \
	T8ROW((96+4*C), Y3, 3)

// T8FIN adds row ROW's block (at P; int sums in I) to its float lanes F
// (and M, the mins' lanes).
#ifdef MINS
#define T8FIN(P, I, F, M) \
	VCVTDQ2PS I, I; \
	VPBROADCASTW P, X9; \
	VCVTPH2PS X9, Y9; \
	VMULPS (R11), Y9, Y9; \
	VMULPS I, Y9, Y9; \
	VADDPS Y9, F, F; \
	VPBROADCASTW 2 P, X9; \
	VCVTPH2PS X9, Y9; \
	VMULPS (R12), Y9, Y9; \
	VADDPS Y9, M, M
#else
#define T8FIN(P, I, F, M) \
	VPSUBD Y8, I, I; \
	VCVTDQ2PS I, I; \
	VPBROADCASTW P, X9; \
	VCVTPH2PS X9, Y9; \
	VMULPS (R11), Y9, Y9; \
	VMULPS I, Y9, Y9; \
	VADDPS Y9, F, F
#endif

// T8STORE stores the eight lanes of F (X register XF; XT scratch) to
// OFF(DI) + p·ystride·4 (AX = ystride·4, R13 = 3·AX).
#define T8STORE(F, XF, XT, OFF) \
	VEXTRACTF128 $1, F, XT; \
	VMOVSS XF, OFF(DI); \
	VEXTRACTPS $1, XF, OFF(DI)(AX*1); \
	VEXTRACTPS $2, XF, OFF(DI)(AX*2); \
	VEXTRACTPS $3, XF, OFF(DI)(R13*1); \
	LEAQ (DI)(AX*4), BX; \
	VMOVSS XT, OFF(BX); \
	VEXTRACTPS $1, XT, OFF(BX)(AX*1); \
	VEXTRACTPS $2, XT, OFF(BX)(AX*2); \
	VEXTRACTPS $3, XT, OFF(BX)(R13*1)

// func NAME(y *float32, ystride int, w *byte, rowBytes, nrows int, t *int8, d16 *float32, e16 *(int32|float32), nb int)
//
// Four rows (nrows a multiple of 4) × eight positions, one position per
// 32-bit lane: each DOTR multiplies four weights of a row, broadcast to
// every lane, with four quants of each position (t is prepTile16's
// transposed layout, offset to the half of the sixteen positions this
// call does; d16 and e16 (s16 or m16) likewise), so each lane's block sum
// is exact with no horizontal reduction. Per block, the four rows'
// unsigned weights are formed once (LW) into a 128-byte frame scratch
// and broadcast from there. Lanes: Y0..Y3 the rows' block sums, Y4..Y7
// sumf, Y10..Y12, Y14 summs (MINS). Results go to y[p*ystride + r].
TEXT NAME(SB), NOSPLIT, $128-72
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ rowBytes+24(FP), R8
	MOVQ nrows+32(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL LWMASK, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

t8group:
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
#ifdef MINS
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y14, Y14, Y14
#endif
	MOVQ SI, BX
	MOVQ t+40(FP), DX
	MOVQ d16+48(FP), R11
	MOVQ e16+56(FP), R12
	MOVQ nb+64(FP), CX

t8block:
	LW(BX, Y8, X8, Y9, X9)
	VMOVDQU Y8, 0(SP)
	LEAQ (BX)(R8*1), AX
	LW(AX, Y8, X8, Y9, X9)
	VMOVDQU Y8, 32(SP)
	LEAQ (BX)(R8*2), AX
	LW(AX, Y8, X8, Y9, X9)
	VMOVDQU Y8, 64(SP)
	LEAQ (BX)(R9*1), AX
	LW(AX, Y8, X8, Y9, X9)
	VMOVDQU Y8, 96(SP)
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	T8CHUNK(0)
	T8CHUNK(1)
	T8CHUNK(2)
	T8CHUNK(3)
	T8CHUNK(4)
	T8CHUNK(5)
	T8CHUNK(6)
	T8CHUNK(7)
#ifndef MINS
	VMOVDQU (R12), Y8
	VPSLLD $SUMSHIFT, Y8, Y8
#endif
	T8FIN((BX), Y0, Y4, Y10)
	T8FIN((BX)(R8*1), Y1, Y5, Y11)
	T8FIN((BX)(R8*2), Y2, Y6, Y12)
	T8FIN((BX)(R9*1), Y3, Y7, Y14)
	ADDQ $BB, BX
	ADDQ $512, DX
	ADDQ $64, R11
	ADDQ $64, R12
	DECQ CX
	JNZ t8block

#ifdef MINS
	VADDPS Y10, Y4, Y4
	VADDPS Y11, Y5, Y5
	VADDPS Y12, Y6, Y6
	VADDPS Y14, Y7, Y7
#endif
	MOVQ ystride+8(FP), AX
	SHLQ $2, AX
	LEAQ (AX)(AX*2), R13
	T8STORE(Y4, X4, X8, 0)
	T8STORE(Y5, X5, X8, 4)
	T8STORE(Y6, X6, X8, 8)
	T8STORE(Y7, X7, X8, 12)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA t8group
	VZEROUPPER
	RET

#undef T8ROW
#undef T8CHUNK
#undef T8FIN
#undef T8STORE
#else
#ifndef TILE

// func NAME(y *float32, w *byte, rowStep, nrows int, q *int8, d *float32, e *(int32|float32), nb int, blockStep, groupStep, acc int)
//
// Four rows per step (nrows a multiple of 4), one row per lane of X14
// (sumf) and X12 (summs); REDUCE4 sums each row's eight lanes. Row r of
// a group of four starts rowStep bytes after row r-1, a row's blocks are
// blockStep bytes apart and groups groupStep bytes apart: rowStep =
// rowBytes, blockStep = BB, groupStep = 4·rowBytes for rows stored one
// after the other; rowStep = BB, blockStep = 4·BB for four rows whose
// blocks are interleaved (interleave4), read as one run. With acc != 0
// (types without mins only) each row's sum continues from y's value
// instead of 0: the products of a row's later blocks, as the column
// panels of layout.go need, in the generic kernel's order.
TEXT NAME(SB), NOSPLIT, $0-88
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowStep+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL LWMASK, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

group:
	VXORPS X14, X14, X14
	VXORPS X12, X12, X12
#ifndef MINS
	CMPQ acc+80(FP), $0
	JEQ fresh
	VMOVUPS (DI), X14

fresh:
#endif
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R12
	MOVQ e+48(FP), R13
	MOVQ nb+56(FP), CX

block:
	// The same block of the next group.
	MOVQ groupStep+72(FP), AX
	ADDQ BX, AX
	CMPQ R8, $BB
	JEQ prefetchrun
	PREFETCHT0 (AX)
	PREFETCHT0 (AX)(R8*1)
	PREFETCHT0 (AX)(R8*2)
	PREFETCHT0 (AX)(R9*1)
	JMP prefetched

prefetchrun:
	// Interleaved rows: one run of 4·BB bytes, prefetched into L2
	// (which streams better from memory there than into L1; BENCHMARKS.md).
	PREFETCHT1 (AX)
	PREFETCHT1 64(AX)
	PREFETCHT1 (4*BB-1)(AX)

prefetched:

	VMOVDQU (DX), Y0
	LW(BX, Y5, X5, Y9, X9)
	DOTM(Y0, Y5, 5, Y1, 1)
	LEAQ (BX)(R8*1), AX
	LW(AX, Y6, X6, Y9, X9)
	DOTM(Y0, Y6, 6, Y2, 2)
	LEAQ (BX)(R8*2), AX
	LW(AX, Y7, X7, Y9, X9)
	DOTM(Y0, Y7, 7, Y3, 3)
	LEAQ (BX)(R9*1), AX
	LW(AX, Y8, X8, Y9, X9)
	DOTM(Y0, Y8, 8, Y4, 4)
	REDUCE4(Y1, Y2, Y3, Y4, Y5, Y6, X1, X5)
#ifndef MINS
	VPBROADCASTD (R13), X2
	VPSLLD $SUMSHIFT, X2, X2
	VPSUBD X2, X1, X1
#endif
	VCVTDQ2PS X1, X1

	HALVES4(0, BX, R8, R9, X9, AX, R11)
	VCVTPH2PS X9, X9
	VBROADCASTSS (R12), X10
	VMULPS X10, X9, X9
	VMULPS X1, X9, X9
	VADDPS X9, X14, X14
#ifdef MINS
	HALVES4(2, BX, R8, R9, X9, AX, R11)
	VCVTPH2PS X9, X9
	VBROADCASTSS (R13), X10
	VMULPS X10, X9, X9
	VADDPS X9, X12, X12
#endif

	ADDQ blockStep+64(FP), BX
	ADDQ $32, DX
	ADDQ $4, R12
	ADDQ $4, R13
	DECQ CX
	JNZ block

#ifdef MINS
	VADDPS X12, X14, X14
#endif
	VMOVUPS X14, (DI)
	ADDQ $16, DI
	ADDQ groupStep+72(FP), SI
	SUBQ $4, R10
	JA group
	VZEROUPPER
	RET

#else

// LPOS sets D (number DN) to position QP's block sums against weights W.
#define LPOS(D, DN, W, WN, QP) DOTM((QP)(DX*1), W, WN, D, DN)

// func NAME(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, e4 *(int32|float32), nb int)
//
// Two rows × four positions per step (nrows even), lane 4r+p of Y0
// (sumf) and Y10 (summs); results go to y[p*ystride + r]. The output
// pointer and the block count live in the frame (yp, cnt): the general
// registers are all in use.
TEXT NAME(SB), NOSPLIT, $16-72
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
	MOVL LWMASK, CX
	VMOVD CX, X13
	VPBROADCASTD X13, Y13
	VMOVDQU lpermDW<>(SB), Y8

tgroup:
	VXORPS Y0, Y0, Y0
	VXORPS Y10, Y10, Y10
	MOVQ SI, BX
	XORQ DX, DX
	MOVQ d4+48(FP), R9
	MOVQ nb+64(FP), CX
	MOVQ CX, cnt-16(SP)

	// DI and CX are scratch registers in the loop.
tblock:
	LW(BX, Y2, X2, Y4, X4)
	LEAQ (BX)(R8*1), DI
	LW(DI, Y3, X3, Y4, X4)

	LPOS(Y4, 4, Y2, 2, AX)
	LPOS(Y5, 5, Y2, 2, R12)
	MERGE2(Y4, Y5, Y6, Y7)
	LPOS(Y5, 5, Y2, 2, R13)
	LPOS(Y6, 6, Y2, 2, R11)
	MERGE2(Y5, Y6, Y7, Y1)
	MERGE4(Y4, Y5, Y6, Y7)
	LPOS(Y5, 5, Y3, 3, AX)
	LPOS(Y6, 6, Y3, 3, R12)
	MERGE2(Y5, Y6, Y7, Y1)
	LPOS(Y6, 6, Y3, 3, R13)
	LPOS(Y7, 7, Y3, 3, R11)
	MERGE2(Y6, Y7, Y1, Y9)
	MERGE4(Y5, Y6, Y7, Y1)
	// [r0 p0..p3 | r1 p0..p3]
	VPBLENDD $0xf0, Y5, Y4, Y6
	VPERM2I128 $0x21, Y5, Y4, Y7
	VPADDD Y7, Y6, Y6
	// This block's e4 entries are at e4 + DX/2 (DX advances 32 per
	// block, e4 16).
	MOVQ DX, DI
	SHRQ $1, DI
	ADDQ e4+56(FP), DI
#ifndef MINS
	VBROADCASTI128 (DI), Y7
	VPSLLD $SUMSHIFT, Y7, Y7
	VPSUBD Y7, Y6, Y6
#endif
	VCVTDQ2PS Y6, Y6
#ifdef MINS
	VBROADCASTF128 (DI), Y14
	HALVES2(2, 2, BX, R8, X12, CX, DI)
	VCVTPH2PS X12, X12
	VPERMPS Y12, Y8, Y12
	VMULPS Y14, Y12, Y12
	VADDPS Y12, Y10, Y10
#endif

	HALVES2(0, 0, BX, R8, X12, CX, DI)
	VCVTPH2PS X12, X12
	VPERMPS Y12, Y8, Y12
	VBROADCASTF128 (R9), Y14
	VMULPS Y14, Y12, Y12
	VMULPS Y6, Y12, Y12
	VADDPS Y12, Y0, Y0

	ADDQ $BB, BX
	ADDQ $32, DX
	ADDQ $16, R9
	DECQ cnt-16(SP)
	JNZ tblock

#ifdef MINS
	VADDPS Y10, Y0, Y0
#endif
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
	JA tgroup
	VZEROUPPER
	RET

#undef LPOS
#endif
#endif

#undef LW
#undef LWMASK
#undef NAME
#undef BB
#undef QS
#ifdef QH
#undef QH
#endif
#ifdef MINS
#undef MINS
#endif
#ifdef SUMSHIFT
#undef SUMSHIFT
#endif
#ifdef TILE
#undef TILE
#endif
#ifdef TILE8
#undef TILE8
#endif
#ifdef LQ8_0
#undef LQ8_0
#endif
#ifdef LQ4_0
#undef LQ4_0
#endif
#ifdef LQ4_1
#undef LQ4_1
#endif
#ifdef LQ5_0
#undef LQ5_0
#endif
#ifdef LQ5_1
#undef LQ5_1
#endif
