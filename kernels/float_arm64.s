//go:build arm64 && !purego

#include "textflag.h"
#include "kernels_arm64.h"

// Float kernels (F32, F16, BF16 weights; float32 activations), bit for
// bit the generic dots of dot_float.go. The generic code keeps eight
// accumulators s0..s7 (s_j sums the products of columns 8i+j), combines
// them as sum8 does, ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)), then adds the
// columns after the last whole 8 one by one. Here a (row, position)
// keeps s0..s3 in the four lanes of one vector (A) and s4..s7 in a
// second (B); each product is rounded before the add (FMUL then FADD,
// never FMLA, which fuses them). FADDP does sum8: FADDP(A, B) =
// [s0+s1, s2+s3, s4+s5, s6+s7]; two such vectors X, Y of different rows
// (or positions) give FADDP(X, Y) = [(s0+s1)+(s2+s3), (s4+s5)+(s6+s7)]
// of each, and a third FADDP of two of those gives four whole sums, one
// per lane, in sum8's order. The scalar tail then runs with the four
// rows (or positions) in the four lanes. f16 weights convert exactly
// with FCVTL/FCVTL2, bf16 ones by a 16-bit left shift (SHLL/SHLL2: bf16
// is the top half of a float32).

// Instructions the Go assembler does not know (see kernels_arm64.h).
// FCVTL2 Vd.4S = float32(the high four halves of Vn.8H).
#define FCVTL2(d, n) WORD $(0x4E217800 | (n)<<5 | (d))
// FADDP4S Vd.4S = [n0+n1, n2+n3, m0+m1, m2+m3].
#define FADDP4S(d, n, m) WORD $(0x6E20D400 | (m)<<16 | (n)<<5 | (d))
// SHLL/SHLL2 Vd.4S = the low/high four uint16 lanes of Vn shifted left 16.
#define SHLL16(d, n) WORD $(0x2E613800 | (n)<<5 | (d))
#define SHLL216(d, n) WORD $(0x6E613800 | (n)<<5 | (d))

// Per weight type: LD8 loads the next eight weights at R (and moves R on)
// into VA:VB (f32) or VA (f16, bf16: raw bits), and CVT8 turns them into
// float32 in a:b (VA:VB by number; apart, so that the loads of a step go
// out before the first conversion waits on them); LANE loads
// the next weight at R into lane I of V, as its raw bits; CVT4 converts
// the four lanes LANE filled in Vn to float32; DUP loads the next weight
// at R into every lane of V (n) as float32.
#define LD8_F32(R, VA, VB) VLD1.P 32(R), [VA.S4, VB.S4]
#define CVT8_F32(a, b)
#define LANE_F32(R, V, I) VLD1.P 4(R), V.S[I]
#define CVT4_F32(n)
#define DUP_F32(R, V, n) VLD1R.P 4(R), [V.S4]

#define LD8_F16(R, VA, VB) VLD1.P 16(R), [VA.H8]
#define CVT8_F16(a, b) \
	FCVTL2(b, a); \
	FCVTL4S(a, a)
#define LANE_F16(R, V, I) VLD1.P 2(R), V.H[I]
#define CVT4_F16(n) FCVTL4S(n, n)
#define DUP_F16(R, V, n) \
	VLD1R.P 2(R), [V.H8]; \
	FCVTL4S(n, n)

#define LD8_BF16(R, VA, VB) VLD1.P 16(R), [VA.H8]
#define CVT8_BF16(a, b) \
	SHLL216(b, a); \
	SHLL16(a, a)
#define LANE_BF16(R, V, I) VLD1.P 2(R), V.H[I]
#define CVT4_BF16(n) SHLL16(n, n)
#define DUP_BF16(R, V, n) \
	VLD1R.P 2(R), [V.H8]; \
	SHLL16(n, n)

// FMAC4 adds the (rounded) products of weights w0..w3 and activations
// x0..x3 to accumulators a0..a3, with t0..t3 scratch: the four
// multiplies first, so that no add waits on the multiply just before it
// (in-order cores such as the Cortex-A53 would stall).
#define FMAC4(a0, w0, x0, t0, a1, w1, x1, t1, a2, w2, x2, t2, a3, w3, x3, t3) \
	FMUL4S(t0, w0, x0); \
	FMUL4S(t1, w1, x1); \
	FMUL4S(t2, w2, x2); \
	FMUL4S(t3, w3, x3); \
	FADD4S(a0, a0, t0); \
	FADD4S(a1, a1, t1); \
	FADD4S(a2, a2, t2); \
	FADD4S(a3, a3, t3)

// FROWS: four rows per step (R3 = nrows, a multiple of 4). R0 y, R1 w,
// R2 rowBytes, R10 x, R12 the columns (then the runs of eight in them,
// R13 the columns after the runs). R4..R7 point into the four rows, R8 into x; row r accumulates in
// V(2r):V(2r+1), its weights in V(8+2r):V(9+2r), x in V16:V17, products
// in V18..V25; V26 holds the four sums (lane r = row r).
#define FROWS(LD8, CVT8, LANE, CVT4) \
	AND $7, R12, R13; \
	LSR $3, R12; \
rgroup: \
	ZERO(0); \
	ZERO(1); \
	ZERO(2); \
	ZERO(3); \
	ZERO(4); \
	ZERO(5); \
	ZERO(6); \
	ZERO(7); \
	MOVD R1, R4; \
	ADD R2, R4, R5; \
	ADD R2, R5, R6; \
	ADD R2, R6, R7; \
	MOVD R10, R8; \
	CBZ R12, rsum; \
	MOVD R12, R9; \
rstep: \
	VLD1.P 32(R8), [V16.S4, V17.S4]; \
	LD8(R4, V8, V9); \
	LD8(R5, V10, V11); \
	LD8(R6, V12, V13); \
	LD8(R7, V14, V15); \
	CVT8(8, 9); \
	CVT8(10, 11); \
	CVT8(12, 13); \
	CVT8(14, 15); \
	FMAC4(0, 8, 16, 18, 1, 9, 17, 19, 2, 10, 16, 20, 3, 11, 17, 21); \
	FMAC4(4, 12, 16, 22, 5, 13, 17, 23, 6, 14, 16, 24, 7, 15, 17, 25); \
	SUBS $1, R9; \
	BNE rstep; \
rsum: \
	FADDP4S(18, 0, 1); \
	FADDP4S(19, 2, 3); \
	FADDP4S(20, 4, 5); \
	FADDP4S(21, 6, 7); \
	FADDP4S(18, 18, 19); \
	FADDP4S(20, 20, 21); \
	FADDP4S(26, 18, 20); \
	CBZ R13, rstore; \
	MOVD R13, R9; \
rtail: \
	VLD1R.P 4(R8), [V16.S4]; \
	LANE(R4, V17, 0); \
	LANE(R5, V17, 1); \
	LANE(R6, V17, 2); \
	LANE(R7, V17, 3); \
	CVT4(17); \
	FMUL4S(18, 17, 16); \
	FADD4S(26, 26, 18); \
	SUBS $1, R9; \
	BNE rtail; \
rstore: \
	VST1.P [V26.S4], 16(R0); \
	ADD R2<<2, R1, R1; \
	SUBS $4, R3; \
	BGT rgroup; \
	RET

// FTILE_ARGS loads the arguments of the float tiles' common signature
// (y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32,
// n int) into FTILE's registers. Defined before the first TEXT, where go
// vet's frame check does not read it as part of a function.
#define FTILE_ARGS \
	MOVD y+0(FP), R0; \
	MOVD ystride+8(FP), R1; \
	LSL $2, R1; \
	MOVD w+16(FP), R2; \
	MOVD rowBytes+24(FP), R3; \
	MOVD nrows+32(FP), R15; \
	MOVD x+40(FP), R11; \
	LDP (R11), (R19, R20); \
	LDP 16(R11), (R21, R22); \
	MOVD n+48(FP), R12

// func f32RowsNEON(y *float32, w *byte, rowBytes, nrows int, x *float32, n int)
TEXT ·f32RowsNEON(SB), NOSPLIT, $0-48
	MOVD y+0(FP), R0
	MOVD w+8(FP), R1
	MOVD rowBytes+16(FP), R2
	MOVD nrows+24(FP), R3
	MOVD x+32(FP), R10
	MOVD n+40(FP), R12
	FROWS(LD8_F32, CVT8_F32, LANE_F32, CVT4_F32)

// func f16RowsNEON(y *float32, w *byte, rowBytes, nrows int, x *float32, n int)
TEXT ·f16RowsNEON(SB), NOSPLIT, $0-48
	MOVD y+0(FP), R0
	MOVD w+8(FP), R1
	MOVD rowBytes+16(FP), R2
	MOVD nrows+24(FP), R3
	MOVD x+32(FP), R10
	MOVD n+40(FP), R12
	FROWS(LD8_F16, CVT8_F16, LANE_F16, CVT4_F16)

// func bf16RowsNEON(y *float32, w *byte, rowBytes, nrows int, x *float32, n int)
TEXT ·bf16RowsNEON(SB), NOSPLIT, $0-48
	MOVD y+0(FP), R0
	MOVD w+8(FP), R1
	MOVD rowBytes+16(FP), R2
	MOVD nrows+24(FP), R3
	MOVD x+32(FP), R10
	MOVD n+40(FP), R12
	FROWS(LD8_BF16, CVT8_BF16, LANE_BF16, CVT4_BF16)

// FTILE: prefill, two rows × four positions per step (R15 = nrows, even),
// each run of eight weights loaded and converted once for the four
// positions; it loads the tiles' arguments (FTILE_ARGS). R0 y (this pair's first row in position 0), R1 the
// positions' stride in bytes, R2 w, R3 rowBytes, R19..R22 the positions'
// activations, R12 the columns (then the runs of eight in them, R13 the
// columns after the runs). R8, R9 point
// into the pair's rows, R4..R7 into the positions' activations. Row 0 of
// position p accumulates in V(2p):V(2p+1), row 1 in V(8+2p):V(9+2p); the
// weights are in V16:V17 and V18:V19, the activations in V20..V27,
// products in V28..V31. After the runs, V16 holds row 0's four sums and
// V20 row 1's (lane p = position p).
#define FTILE(LD8, CVT8, DUP) \
	FTILE_ARGS; \
	AND $7, R12, R13; \
	LSR $3, R12; \
tpair: \
	ZERO(0); \
	ZERO(1); \
	ZERO(2); \
	ZERO(3); \
	ZERO(4); \
	ZERO(5); \
	ZERO(6); \
	ZERO(7); \
	ZERO(8); \
	ZERO(9); \
	ZERO(10); \
	ZERO(11); \
	ZERO(12); \
	ZERO(13); \
	ZERO(14); \
	ZERO(15); \
	MOVD R2, R8; \
	ADD R3, R8, R9; \
	MOVD R19, R4; \
	MOVD R20, R5; \
	MOVD R21, R6; \
	MOVD R22, R7; \
	CBZ R12, tsum; \
	MOVD R12, R10; \
tstep: \
	LD8(R8, V16, V17); \
	LD8(R9, V18, V19); \
	VLD1.P 32(R4), [V20.S4, V21.S4]; \
	VLD1.P 32(R5), [V22.S4, V23.S4]; \
	VLD1.P 32(R6), [V24.S4, V25.S4]; \
	VLD1.P 32(R7), [V26.S4, V27.S4]; \
	CVT8(16, 17); \
	CVT8(18, 19); \
	FMAC4(0, 16, 20, 28, 1, 17, 21, 29, 8, 18, 20, 30, 9, 19, 21, 31); \
	FMAC4(2, 16, 22, 28, 3, 17, 23, 29, 10, 18, 22, 30, 11, 19, 23, 31); \
	FMAC4(4, 16, 24, 28, 5, 17, 25, 29, 12, 18, 24, 30, 13, 19, 25, 31); \
	FMAC4(6, 16, 26, 28, 7, 17, 27, 29, 14, 18, 26, 30, 15, 19, 27, 31); \
	SUBS $1, R10; \
	BNE tstep; \
tsum: \
	FADDP4S(16, 0, 1); \
	FADDP4S(17, 2, 3); \
	FADDP4S(18, 4, 5); \
	FADDP4S(19, 6, 7); \
	FADDP4S(16, 16, 17); \
	FADDP4S(18, 18, 19); \
	FADDP4S(16, 16, 18); \
	FADDP4S(20, 8, 9); \
	FADDP4S(21, 10, 11); \
	FADDP4S(22, 12, 13); \
	FADDP4S(23, 14, 15); \
	FADDP4S(20, 20, 21); \
	FADDP4S(22, 22, 23); \
	FADDP4S(20, 20, 22); \
	CBZ R13, tstore; \
	MOVD R13, R10; \
ttail: \
	DUP(R8, V17, 17); \
	DUP(R9, V18, 18); \
	VLD1.P 4(R4), V19.S[0]; \
	VLD1.P 4(R5), V19.S[1]; \
	VLD1.P 4(R6), V19.S[2]; \
	VLD1.P 4(R7), V19.S[3]; \
	FMUL4S(21, 17, 19); \
	FMUL4S(22, 18, 19); \
	FADD4S(16, 16, 21); \
	FADD4S(20, 20, 22); \
	SUBS $1, R10; \
	BNE ttail; \
tstore: \
	VZIP1 V20.S4, V16.S4, V21.S4; \
	VZIP2 V20.S4, V16.S4, V22.S4; \
	VMOV V21.D[0], R11; \
	MOVD R11, (R0); \
	ADD R1, R0, R14; \
	VMOV V21.D[1], R11; \
	MOVD R11, (R14); \
	ADD R1, R14, R14; \
	VMOV V22.D[0], R11; \
	MOVD R11, (R14); \
	ADD R1, R14, R14; \
	VMOV V22.D[1], R11; \
	MOVD R11, (R14); \
	ADD $8, R0; \
	ADD R3<<1, R2, R2; \
	SUBS $2, R15; \
	BGT tpair; \
	RET

// func f32TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n int)
TEXT ·f32TileNEON(SB), NOSPLIT, $0-56
	FTILE(LD8_F32, CVT8_F32, DUP_F32)

// func f16TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n int)
TEXT ·f16TileNEON(SB), NOSPLIT, $0-56
	FTILE(LD8_F16, CVT8_F16, DUP_F16)

// func bf16TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, x *[4]*float32, n int)
TEXT ·bf16TileNEON(SB), NOSPLIT, $0-56
	FTILE(LD8_BF16, CVT8_BF16, DUP_BF16)
