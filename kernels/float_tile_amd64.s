//go:build amd64 && !purego

#include "textflag.h"

// Float tiles (prefill): two rows × four positions per step. Each run of
// eight weights is loaded (and converted, for f16 and bf16) once and
// multiplied with the four positions' runs, so a weight is read once
// per four positions instead of once per position. The arithmetic per
// (row, position) is exactly f32RowsAVX2's: lane j accumulates the
// generic code's s_j with VMULPS then VADDPS (no FMA), and the lanes are
// combined in sum8's order by the same VHADDPS sequence.
//
// floatTileAVX2 (below) sets y[p*ystride+r] = sum8 of row r (at
// w+r*rowBytes) · x[p], over n8 > 0 runs of eight; nrows is even.
// Columns after the last whole 8 are added by the Go wrapper.
//
// Registers: Y0..Y3 row 0 × positions 0..3, Y4..Y7 row 1; Y8, Y9 the two
// rows' weights; AX, R11, R12, R13 point just past the positions' runs,
// indexed by DX from R9 = -32·n8 up to 0 (so the loop needs no counter);
// BX walks the weights of the row pair at SI; R8 rowBytes; R10 rows
// left; DI the pair's outputs; CX scratch. The arguments are read in the
// function bodies, not in the macros, so that go vet checks them.
//
// Unlike the rows kernels, the tile does not prefetch: it is bound by
// arithmetic, not memory (a pair's weights are read once per four
// positions, and the pool's row blocks keep them in L2 for the next
// groups), and the hardware prefetchers follow two streams; in
// measurements the prefetch instructions only cost time.

// FTILE_SETUP, with the positions' pointers at DX and n8 in R9, points
// AX, R11, R12, R13 just past the positions' runs and sets R9 = -32·n8.
#define FTILE_SETUP \
	SHLQ $5, R9; \
	MOVQ 0(DX), AX; \
	ADDQ R9, AX; \
	MOVQ 8(DX), R11; \
	ADDQ R9, R11; \
	MOVQ 16(DX), R12; \
	ADDQ R9, R12; \
	MOVQ 24(DX), R13; \
	ADDQ R9, R13; \
	NEGQ R9

// FTILE_START clears the accumulators and starts the row pair at SI.
#define FTILE_START \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	MOVQ SI, BX; \
	MOVQ R9, DX

// FTILE_POS multiplies the weights Y8, Y9 with position P's run and adds
// the products to row 0's accumulator A and row 1's B. The run is read
// from memory by both VMULPS (it is in cache): fewer instructions than a
// load into a register, and the loop is bound by issuing them.
#define FTILE_POS(P, A, B) \
	VMULPS (P)(DX*1), Y8, Y11; \
	VADDPS Y11, A, A; \
	VMULPS (P)(DX*1), Y9, Y12; \
	VADDPS Y12, B, B

#define FTILE_MAC \
	FTILE_POS(AX, Y0, Y4); \
	FTILE_POS(R11, Y1, Y5); \
	FTILE_POS(R12, Y2, Y6); \
	FTILE_POS(R13, Y3, Y7)

// FTILE_REDUCE4 combines accumulators A..D into XA = their four sum8
// values, as FROWS_REDUCE does (XT is scratch).
#define FTILE_REDUCE4(A, B, C, D, XA, XT) \
	VHADDPS B, A, A; \
	VHADDPS D, C, C; \
	VHADDPS C, A, A; \
	VEXTRACTF128 $1, A, XT; \
	VADDPS XT, XA, XA

// FTILE_STORE writes the pair's eight sums, rows 0 and 1 side by side
// for each position (ystride in BX), and moves on to the next pair.
#define FTILE_STORE \
	FTILE_REDUCE4(Y0, Y1, Y2, Y3, X0, X8); \
	FTILE_REDUCE4(Y4, Y5, Y6, Y7, X4, X9); \
	VUNPCKLPS X4, X0, X10; \
	VUNPCKHPS X4, X0, X11; \
	SHLQ $2, BX; \
	VMOVQ X10, (DI); \
	VMOVHPS X10, (DI)(BX*1); \
	LEAQ (DI)(BX*2), CX; \
	VMOVQ X11, (CX); \
	VMOVHPS X11, (CX)(BX*1); \
	ADDQ $8, DI; \
	LEAQ (SI)(R8*2), SI

// func floatTileAVX2(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n8, kind int)
//
// kind selects the weights' type and so the step loop: 0 f32, 1 f16
// (converted exactly by VCVTPH2PS), 2 bf16 (widened exactly: bf16 is the
// top half of a float32).
TEXT ·floatTileAVX2(SB), NOSPLIT, $0-64
	MOVQ w+16(FP), SI
	MOVQ rowBytes+24(FP), R8
	MOVQ nrows+32(FP), R10
	MOVQ x+40(FP), DX
	MOVQ n8+48(FP), R9
	FTILE_SETUP
	MOVQ y+0(FP), DI

pair:
	FTILE_START
	MOVQ kind+56(FP), CX
	CMPQ CX, $1
	JEQ hstep
	JA bstep

fstep:
	VMOVUPS (BX), Y8
	VMOVUPS (BX)(R8*1), Y9
	FTILE_MAC
	ADDQ $32, BX
	ADDQ $32, DX
	JNZ fstep
	JMP store

hstep:
	VCVTPH2PS (BX), Y8
	VCVTPH2PS (BX)(R8*1), Y9
	FTILE_MAC
	ADDQ $16, BX
	ADDQ $32, DX
	JNZ hstep
	JMP store

bstep:
	VPMOVZXWD (BX), Y8
	VPSLLD $16, Y8, Y8
	VPMOVZXWD (BX)(R8*1), Y9
	VPSLLD $16, Y9, Y9
	FTILE_MAC
	ADDQ $16, BX
	ADDQ $32, DX
	JNZ bstep

store:
	MOVQ ystride+8(FP), BX
	FTILE_STORE
	SUBQ $2, R10
	JA pair
	VZEROUPPER
	RET
