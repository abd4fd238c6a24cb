//go:build amd64 && !purego

#include "textflag.h"

// Float tiles (prefill): two rows × six positions per step. Each run of
// eight weights is loaded (and converted, for f16 and bf16) once and
// multiplied with the six positions' runs, so a weight is read once per
// six positions instead of once per position. The arithmetic per (row,
// position) is exactly f32RowsAVX2's: lane j accumulates the generic
// code's s_j with VMULPS then VADDPS (no FMA), and the lanes are
// combined in sum8's order by the same VHADDPS sequence.
//
// floatTileAVX2 (below) sets, for each position p < 6 and row r < nrows,
// y[p][r] = sum8 of row r (at w+r*rowBytes) · x[p], over n8 > 0 runs of
// eight; nrows is even. Columns after the last whole 8 are added by the
// Go wrapper. Positions may repeat (with the same y[p]): the Go wrapper
// fills a last partial group that way, and the repeats store the same
// bits to the same place.
//
// Why six: the loop is bound by how many instructions and loads it
// issues per product, not by memory. Twelve accumulators (Y0..Y11), the
// two rows' weights (Y12, Y13), a position's run (Y14) and a product
// (Y15) fill the sixteen YMM registers; per step that is 2 weight loads
// and 6 activation loads for 24 products, where two rows × four
// positions needed 6 loads (or 10, multiplying from memory) for 16.
//
// Registers: AX, BX, CX, R11, R12, R13 point just past the six
// positions' runs; SI and R14 just past the current pair's two rows'
// runs; DX counts the weight bytes from R9 = -(run bytes) up to 0 (the
// activations are at DX*1 for f32 and DX*2 for f16/bf16, whose weights
// take 2 bytes a value), so the loop needs no other counter; R8
// rowBytes; R10 rows left; DI the pair's byte offset in each y[p]; R15
// scratch (R14 and R15 are free in ABI0 code: the ABI wrapper restores
// the goroutine pointer in R14 on return). The arguments are read in the function body, not in the
// macros, so that go vet checks them. The tile does not prefetch: the
// hardware prefetchers follow two streams, and in measurements the
// rows kernels' prefetch instructions only cost the tile time.

// FTILE_PTRS, with the positions' pointers at DX and the bytes of their
// runs in R9, points AX, BX, CX, R11, R12, R13 past the runs.
#define FTILE_PTRS \
	MOVQ 0(DX), AX; \
	ADDQ R9, AX; \
	MOVQ 8(DX), BX; \
	ADDQ R9, BX; \
	MOVQ 16(DX), CX; \
	ADDQ R9, CX; \
	MOVQ 24(DX), R11; \
	ADDQ R9, R11; \
	MOVQ 32(DX), R12; \
	ADDQ R9, R12; \
	MOVQ 40(DX), R13; \
	ADDQ R9, R13

// FTILE_START clears the accumulators.
#define FTILE_START \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11

// FTILE_POS multiplies the weights Y12, Y13 with position P's run (at
// scale S of DX) and adds the products to row 0's accumulator A and row
// 1's B.
#define FTILE_POS(P, S, A, B) \
	VMOVUPS (P)(DX*S), Y14; \
	VMULPS Y14, Y12, Y15; \
	VADDPS Y15, A, A; \
	VMULPS Y14, Y13, Y15; \
	VADDPS Y15, B, B

// FTILE_MAC does the six positions: position i accumulates in Y(i) for
// row 0 and Y(i+6) for row 1.
#define FTILE_MAC(S) \
	FTILE_POS(AX, S, Y0, Y6); \
	FTILE_POS(BX, S, Y1, Y7); \
	FTILE_POS(CX, S, Y2, Y8); \
	FTILE_POS(R11, S, Y3, Y9); \
	FTILE_POS(R12, S, Y4, Y10); \
	FTILE_POS(R13, S, Y5, Y11)

// FTILE_REDUCE4 combines accumulators A..D into XA = their four sum8
// values, as FROWS_REDUCE does (XT is scratch).
#define FTILE_REDUCE4(A, B, C, D, XA, XT) \
	VHADDPS B, A, A; \
	VHADDPS D, C, C; \
	VHADDPS C, A, A; \
	VEXTRACTF128 $1, A, XT; \
	VADDPS XT, XA, XA

// FTILE_PUT stores the two floats (rows 0 and 1) of a position, in the
// low (VMOVQ) or high (VMOVHPS) half of X, at DI past the pointer at
// OFF(R15) (y[OFF/8]).
#define FTILE_PUT(OFF, MOV, X) \
	MOVQ OFF(R15), DX; \
	MOV X, (DX)(DI*1)

// FTILE_STORE writes the pair's twelve sums, rows 0 and 1 side by side
// for each position (R15 = y), and moves on to the next pair.
#define FTILE_STORE \
	FTILE_REDUCE4(Y0, Y1, Y2, Y3, X0, X12); \
	FTILE_REDUCE4(Y6, Y7, Y8, Y9, X6, X13); \
	FTILE_REDUCE4(Y4, Y5, Y10, Y11, X4, X12); \
	VUNPCKLPS X6, X0, X12; \
	VUNPCKHPS X6, X0, X13; \
	VPERMILPS $0xd8, X4, X4; \
	FTILE_PUT(0, VMOVQ, X12); \
	FTILE_PUT(8, VMOVHPS, X12); \
	FTILE_PUT(16, VMOVQ, X13); \
	FTILE_PUT(24, VMOVHPS, X13); \
	FTILE_PUT(32, VMOVQ, X4); \
	FTILE_PUT(40, VMOVHPS, X4); \
	ADDQ $8, DI; \
	LEAQ (SI)(R8*2), SI; \
	LEAQ (R14)(R8*2), R14

// func floatTileAVX2(y *[6]*float32, w *byte, rowBytes, nrows int, x *[6]*float32, n8, kind int)
//
// kind selects the weights' type and so the step loop: 0 f32, 1 f16
// (converted exactly by VCVTPH2PS), 2 bf16 (widened exactly: bf16 is the
// top half of a float32).
TEXT ·floatTileAVX2(SB), NOSPLIT, $0-56
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	MOVQ x+32(FP), DX
	MOVQ n8+40(FP), R9
	SHLQ $5, R9
	FTILE_PTRS
	MOVQ kind+48(FP), DX
	CMPQ DX, $0
	JEQ wbytes
	SHRQ $1, R9 // f16 and bf16 weights: 16 bytes a run

wbytes:
	ADDQ R9, SI
	LEAQ (SI)(R8*1), R14
	NEGQ R9
	XORQ DI, DI

pair:
	FTILE_START
	MOVQ R9, DX
	MOVQ kind+48(FP), R15
	CMPQ R15, $1
	JEQ hstep
	JA bstep

fstep:
	VMOVUPS (SI)(DX*1), Y12
	VMOVUPS (R14)(DX*1), Y13
	FTILE_MAC(1)
	ADDQ $32, DX
	JNZ fstep
	JMP store

hstep:
	VCVTPH2PS (SI)(DX*1), Y12
	VCVTPH2PS (R14)(DX*1), Y13
	FTILE_MAC(2)
	ADDQ $16, DX
	JNZ hstep
	JMP store

bstep:
	VPMOVZXWD (SI)(DX*1), Y12
	VPSLLD $16, Y12, Y12
	VPMOVZXWD (R14)(DX*1), Y13
	VPSLLD $16, Y13, Y13
	FTILE_MAC(2)
	ADDQ $16, DX
	JNZ bstep

store:
	MOVQ y+0(FP), R15
	FTILE_STORE
	SUBQ $2, R10
	JA pair
	VZEROUPPER
	RET
