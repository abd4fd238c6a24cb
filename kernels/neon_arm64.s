//go:build arm64 && !purego

#include "textflag.h"
#include "kernels_arm64.h"

// arm64 kernels, each in two forms: _SDOT with the dot-product extension
// and _NEON with plain ASIMD widening multiplies (PROD8_*/PROD4_* in
// kernels_arm64.h). The bodies are macros taking the product macro; they
// use registers only (the TEXT wrappers load the arguments).
//
// As on amd64, each block's integer sum is exact, and the rows (or
// positions) of a step sit in separate float lanes that follow the
// generic code's float32 operations in block order.

// ROWS4_ARGS loads the arguments of the ROWS4 kernels (Go signature
// (y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)).
#define ROWS4_ARGS \
	MOVD y+0(FP), R0; \
	MOVD w+8(FP), R1; \
	MOVD rowBytes+16(FP), R2; \
	MOVD nrows+24(FP), R3; \
	MOVD q+32(FP), R4; \
	MOVD d+40(FP), R5; \
	MOVD nb+48(FP), R6

// KROWS_ARGS loads the arguments of the K-quant row kernels (Go
// signature (y *float32, w *byte, nrows int, q *int8, d *float32,
// ks *int16, nb int)).
#define KROWS_ARGS \
	MOVD y+0(FP), R0; \
	MOVD w+8(FP), R1; \
	MOVD nrows+16(FP), R3; \
	MOVD q+24(FP), R4; \
	MOVD d+32(FP), R5; \
	MOVD ks+40(FP), R6; \
	MOVD nb+48(FP), R7

// TILE2_ARGS loads the arguments of the TILE2 kernels (Go signature
// (y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8,
// d4 *float32, nb int)).
#define TILE2_ARGS \
	MOVD y+0(FP), R0; \
	MOVD ystride+8(FP), R1; \
	LSL $2, R1; \
	MOVD w+16(FP), R2; \
	MOVD rowBytes+24(FP), R3; \
	MOVD nrows+32(FP), R4; \
	MOVD q+40(FP), R5; \
	MOVD (R5), R19; \
	MOVD 8(R5), R20; \
	MOVD 16(R5), R21; \
	MOVD 24(R5), R22; \
	MOVD d4+48(FP), R23; \
	MOVD nb+56(FP), R24

// KTILE_ARGS loads the arguments of the K-quant tiles (Go signature
// (y *float32, ystride int, w *byte, nrows int, q *[4]*int8,
// d4 *float32, k4 *int16, nb int)); see KTILE.
#define KTILE_ARGS \
	MOVD y+0(FP), R0; \
	MOVD ystride+8(FP), R1; \
	LSL $2, R1; \
	MOVD w+16(FP), R2; \
	MOVD nrows+24(FP), R3; \
	MOVD q+32(FP), R12; \
	MOVD (R12), R4; \
	MOVD 8(R12), R5; \
	MOVD 16(R12), R6; \
	MOVD 24(R12), R7; \
	MOVD d4+40(FP), R20; \
	MOVD k4+48(FP), R21; \
	MOVD nb+56(FP), R22

// Q8_0_LOAD: the 32 int8 weights of a Q8_0 block of each of the four
// rows (R7..R10) into V2:V3, V4:V5, V6:V7, V16:V17.
#define Q8_0_LOAD \
	VLD1 (R7), [V2.B16, V3.B16]; \
	VLD1 (R8), [V4.B16, V5.B16]; \
	VLD1 (R9), [V6.B16, V7.B16]; \
	VLD1 (R10), [V16.B16, V17.B16]

// Q4_0_NIB: the 16 bytes of a Q4_0 block in RAW to its 32 weights
// (nibble - 8, int8): low nibbles (values 0..15) into LO, high nibbles
// (16..31) into RAW. M15 = 0x0f, M8 = 8 in each byte.
#define Q4_0_NIB(RAW, LO, M15, M8) \
	VAND M15.B16, RAW.B16, LO.B16; \
	VUSHR $4, RAW.B16, RAW.B16; \
	VSUB M8.B16, LO.B16, LO.B16; \
	VSUB M8.B16, RAW.B16, RAW.B16

// Q4_0_LOAD: as Q8_0_LOAD for Q4_0 blocks. V30 = 0x0f, V31 = 8.
#define Q4_0_LOAD \
	VLD1 (R7), [V3.B16]; \
	VLD1 (R8), [V5.B16]; \
	VLD1 (R9), [V7.B16]; \
	VLD1 (R10), [V17.B16]; \
	Q4_0_NIB(V3, V2, V30, V31); \
	Q4_0_NIB(V5, V4, V30, V31); \
	Q4_0_NIB(V7, V6, V30, V31); \
	Q4_0_NIB(V17, V16, V30, V31)

// ROWS4: four rows of 32-value blocks (Q8_0, Q4_0: an f16 scale, then
// BYTES-2 bytes that LOAD turns into 32 int8 weights) per step (R3 =
// nrows, a multiple of 4). R0 y, R1 w, R2 rowBytes, R4 q, R5 d, R6 nb.
// Per block, row r's 32 products land in V8+r (4 lanes), VADDP folds the
// four rows into V18 = [s0 s1 s2 s3], and V21 (lane r = row r) does
// acc += (dw·dx)·s.
#define ROWS4(PROD, LOAD, BYTES) \
qgroup: \
	ZERO(21); \
	ADD $2, R1, R7; \
	ADD R2, R7, R8; \
	ADD R2, R8, R9; \
	ADD R2, R9, R10; \
	MOVD R4, R11; \
	MOVD R5, R12; \
	MOVD R6, R13; \
qblock: \
	VLD1.P 32(R11), [V0.B16, V1.B16]; \
	LOAD; \
	PROD(8, 2, 3, 0, 1, 12); \
	PROD(9, 4, 5, 0, 1, 12); \
	PROD(10, 6, 7, 0, 1, 12); \
	PROD(11, 16, 17, 0, 1, 12); \
	VADDP V9.S4, V8.S4, V12.S4; \
	VADDP V11.S4, V10.S4, V13.S4; \
	VADDP V13.S4, V12.S4, V18.S4; \
	SCVTF4S(18, 18); \
	MOVHU -2(R7), R14; \
	MOVHU -2(R8), R15; \
	ORR R15<<16, R14, R14; \
	MOVHU -2(R9), R15; \
	ORR R15<<32, R14, R14; \
	MOVHU -2(R10), R15; \
	ORR R15<<48, R14, R14; \
	VMOV R14, V19.D[0]; \
	FCVTL4S(19, 19); \
	VLD1R.P 4(R12), [V20.S4]; \
	FMUL4S(19, 19, 20); \
	FMUL4S(19, 19, 18); \
	FADD4S(21, 21, 19); \
	ADD $BYTES, R7; \
	ADD $BYTES, R8; \
	ADD $BYTES, R9; \
	ADD $BYTES, R10; \
	SUBS $1, R13; \
	BNE qblock; \
	VST1.P [V21.S4], 16(R0); \
	ADD R2<<2, R1, R1; \
	SUBS $4, R3; \
	BGT qgroup; \
	RET

// func q8_0RowsSDOT(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)
TEXT ·q8_0RowsSDOT(SB), NOSPLIT, $0-56
	ROWS4_ARGS
	ROWS4(PROD8_SDOT, Q8_0_LOAD, 34)

// func q8_0RowsNEON(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)
TEXT ·q8_0RowsNEON(SB), NOSPLIT, $0-56
	ROWS4_ARGS
	ROWS4(PROD8_NEON, Q8_0_LOAD, 34)

// func q4_0RowsSDOT(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)
TEXT ·q4_0RowsSDOT(SB), NOSPLIT, $0-56
	ROWS4_ARGS
	VMOVI $15, V30.B16
	VMOVI $8, V31.B16
	ROWS4(PROD4_SDOT, Q4_0_LOAD, 18)

// func q4_0RowsNEON(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, nb int)
TEXT ·q4_0RowsNEON(SB), NOSPLIT, $0-56
	ROWS4_ARGS
	VMOVI $15, V30.B16
	VMOVI $8, V31.B16
	ROWS4(PROD4_NEON, Q4_0_LOAD, 18)

// Q8_0_TLOAD, Q4_0_TLOAD: the 32 int8 weights of a block of each of the
// two rows (R7, R8) into V0:V1, V2:V3 (for Q4_0, V22 = 0x0f, V23 = 8).
#define Q8_0_TLOAD \
	VLD1 (R7), [V0.B16, V1.B16]; \
	VLD1 (R8), [V2.B16, V3.B16]
#define Q4_0_TLOAD \
	VLD1 (R7), [V1.B16]; \
	VLD1 (R8), [V3.B16]; \
	Q4_0_NIB(V1, V0, V22, V23); \
	Q4_0_NIB(V3, V2, V22, V23)

// TILE2: two rows of 32-value blocks (as ROWS4) × four positions per
// step (R4 = nrows, even). R0 y, R1 ystride in bytes, R2 w, R3 rowBytes,
// R19..R22 the positions' quants, R23 d4 (scales interleaved), R24 nb.
// Row r's four positions end in V28+r, lane p; they are stored to
// y[p*ystride + r].
#define TILE2(PROD, LOAD, BYTES) \
tgroup: \
	ZERO(28); \
	ZERO(29); \
	ADD $2, R2, R7; \
	ADD R3, R7, R8; \
	MOVD R19, R9; \
	MOVD R20, R10; \
	MOVD R21, R11; \
	MOVD R22, R12; \
	MOVD R23, R13; \
	MOVD R24, R14; \
tblock: \
	LOAD; \
	VLD1.P 32(R9), [V4.B16, V5.B16]; \
	VLD1.P 32(R10), [V6.B16, V7.B16]; \
	VLD1.P 32(R11), [V8.B16, V9.B16]; \
	VLD1.P 32(R12), [V10.B16, V11.B16]; \
	PROD(12, 0, 1, 4, 5, 20); \
	PROD(13, 0, 1, 6, 7, 20); \
	PROD(14, 0, 1, 8, 9, 20); \
	PROD(15, 0, 1, 10, 11, 20); \
	PROD(16, 2, 3, 4, 5, 20); \
	PROD(17, 2, 3, 6, 7, 20); \
	PROD(18, 2, 3, 8, 9, 20); \
	PROD(19, 2, 3, 10, 11, 20); \
	VADDP V13.S4, V12.S4, V12.S4; \
	VADDP V15.S4, V14.S4, V13.S4; \
	VADDP V13.S4, V12.S4, V24.S4; \
	VADDP V17.S4, V16.S4, V16.S4; \
	VADDP V19.S4, V18.S4, V17.S4; \
	VADDP V17.S4, V16.S4, V25.S4; \
	SCVTF4S(24, 24); \
	SCVTF4S(25, 25); \
	MOVHU -2(R7), R15; \
	MOVHU -2(R8), R16; \
	ORR R16<<16, R15, R15; \
	VMOV R15, V26.S[0]; \
	FCVTL4S(26, 26); \
	VDUP V26.S[0], V30.S4; \
	VDUP V26.S[1], V31.S4; \
	VLD1.P 16(R13), [V27.S4]; \
	FMUL4S(30, 30, 27); \
	FMUL4S(31, 31, 27); \
	FMUL4S(30, 30, 24); \
	FMUL4S(31, 31, 25); \
	FADD4S(28, 28, 30); \
	FADD4S(29, 29, 31); \
	ADD $BYTES, R7; \
	ADD $BYTES, R8; \
	SUBS $1, R14; \
	BNE tblock; \
	MOVD R0, R16; \
	VMOV V28.S[0], R15; \
	MOVW R15, (R16); \
	VMOV V29.S[0], R15; \
	MOVW R15, 4(R16); \
	ADD R1, R16, R16; \
	VMOV V28.S[1], R15; \
	MOVW R15, (R16); \
	VMOV V29.S[1], R15; \
	MOVW R15, 4(R16); \
	ADD R1, R16, R16; \
	VMOV V28.S[2], R15; \
	MOVW R15, (R16); \
	VMOV V29.S[2], R15; \
	MOVW R15, 4(R16); \
	ADD R1, R16, R16; \
	VMOV V28.S[3], R15; \
	MOVW R15, (R16); \
	VMOV V29.S[3], R15; \
	MOVW R15, 4(R16); \
	ADD $8, R0; \
	ADD R3<<1, R2, R2; \
	SUBS $2, R4; \
	BGT tgroup; \
	RET

// func q8_0TileSDOT(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)
TEXT ·q8_0TileSDOT(SB), NOSPLIT, $0-64
	TILE2_ARGS
	TILE2(PROD8_SDOT, Q8_0_TLOAD, 34)

// func q8_0TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)
TEXT ·q8_0TileNEON(SB), NOSPLIT, $0-64
	TILE2_ARGS
	TILE2(PROD8_NEON, Q8_0_TLOAD, 34)

// func q4_0TileSDOT(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)
TEXT ·q4_0TileSDOT(SB), NOSPLIT, $0-64
	TILE2_ARGS
	VMOVI $15, V22.B16
	VMOVI $8, V23.B16
	TILE2(PROD4_SDOT, Q4_0_TLOAD, 18)

// func q4_0TileNEON(y *float32, ystride int, w *byte, rowBytes, nrows int, q *[4]*int8, d4 *float32, nb int)
TEXT ·q4_0TileNEON(SB), NOSPLIT, $0-64
	TILE2_ARGS
	VMOVI $15, V22.B16
	VMOVI $8, V23.B16
	TILE2(PROD4_NEON, Q4_0_TLOAD, 18)

// K4_NIB: the low and high nibbles of RAW0, RAW1 (32 bytes of a Q4_K or
// Q5_K pair of sub-blocks) into A, B (sub-block 2j) and C, D (2j+1).
// M15 = 0x0f.
#define K4_NIB(RAW0, RAW1, A, B, C, D, M15) \
	VAND M15.B16, RAW0.B16, A.B16; \
	VAND M15.B16, RAW1.B16, B.B16; \
	VUSHR $4, RAW0.B16, C.B16; \
	VUSHR $4, RAW1.B16, D.B16

// K5_NIB: K4_NIB for Q5_K, with the fifth bits from qh (QH0, QH1; bit 0
// for sub-block 2j, bit 1 for 2j+1, then shifted down by 2 for the next
// pair). M16 = 0x10; T is scratch.
#define K5_NIB(RAW0, RAW1, A, B, C, D, M15, QH0, QH1, M16, T) \
	K4_NIB(RAW0, RAW1, A, B, C, D, M15); \
	VSHL $4, QH0.B16, T.B16; \
	VAND M16.B16, T.B16, T.B16; \
	VORR T.B16, A.B16, A.B16; \
	VSHL $4, QH1.B16, T.B16; \
	VAND M16.B16, T.B16, T.B16; \
	VORR T.B16, B.B16, B.B16; \
	VSHL $3, QH0.B16, T.B16; \
	VAND M16.B16, T.B16, T.B16; \
	VORR T.B16, C.B16, C.B16; \
	VSHL $3, QH1.B16, T.B16; \
	VAND M16.B16, T.B16, T.B16; \
	VORR T.B16, D.B16, D.B16; \
	VUSHR $2, QH0.B16, QH0.B16; \
	VUSHR $2, QH1.B16, QH1.B16

// Q4K_PAIR: sub-blocks 2j (low nibbles of VQ0, VQ1) and 2j+1 (high
// nibbles) against the next 64 activation quants (R9), into V(LO), V(HI).
#define Q4K_PAIR(PROD, VQ0, VQ1, LO, HI) \
	VLD1.P 64(R9), [V8.B16, V9.B16, V10.B16, V11.B16]; \
	K4_NIB(VQ0, VQ1, V20, V21, V22, V23, V31); \
	PROD(LO, 20, 21, 8, 9, 24); \
	PROD(HI, 22, 23, 10, 11, 24)

// Q4K_SUMS: the eight sub-block sums V12..V19 of the Q4_K block at R1
// against the 256 activation quants at R9.
#define Q4K_SUMS(PROD) \
	ADD $16, R1, R12; \
	VLD1.P 64(R12), [V0.B16, V1.B16, V2.B16, V3.B16]; \
	VLD1 (R12), [V4.B16, V5.B16, V6.B16, V7.B16]; \
	Q4K_PAIR(PROD, V0, V1, 12, 13); \
	Q4K_PAIR(PROD, V2, V3, 14, 15); \
	Q4K_PAIR(PROD, V4, V5, 16, 17); \
	Q4K_PAIR(PROD, V6, V7, 18, 19)

// Q5K_PAIR: as Q4K_PAIR for Q5_K, with qh in V27, V28 and V29 = 0x10.
#define Q5K_PAIR(PROD, VQ0, VQ1, LO, HI) \
	VLD1.P 64(R9), [V8.B16, V9.B16, V10.B16, V11.B16]; \
	K5_NIB(VQ0, VQ1, V20, V21, V22, V23, V31, V27, V28, V29, V24); \
	PROD(LO, 20, 21, 8, 9, 24); \
	PROD(HI, 22, 23, 10, 11, 24)

// Q5K_SUMS: as Q4K_SUMS for the Q5_K block at R1.
#define Q5K_SUMS(PROD) \
	ADD $16, R1, R12; \
	VLD1.P 32(R12), [V27.B16, V28.B16]; \
	VLD1.P 64(R12), [V0.B16, V1.B16, V2.B16, V3.B16]; \
	VLD1 (R12), [V4.B16, V5.B16, V6.B16, V7.B16]; \
	VMOVI $16, V29.B16; \
	Q5K_PAIR(PROD, V0, V1, 12, 13); \
	Q5K_PAIR(PROD, V2, V3, 14, 15); \
	Q5K_PAIR(PROD, V4, V5, 16, 17); \
	Q5K_PAIR(PROD, V6, V7, 18, 19)

// K4_SCALES: the eight 6-bit scales and mins of the Q4_K/Q5_K block at
// W (scalesK4): scales as int32 in V28 (sub-blocks 0..3) and V29 (4..7),
// mins as int16 in V27. Uses R12..R17, R19, V24, V25.
#define K4_SCALES(W) \
	MOVWU 4(W), R12; \
	MOVWU 8(W), R13; \
	MOVWU 12(W), R14; \
	ANDW $0x3f3f3f3f, R12, R15; \
	ANDW $0x0f0f0f0f, R14, R16; \
	LSRW $6, R12, R17; \
	ANDW $0x03030303, R17, R17; \
	ORRW R17<<4, R16, R16; \
	ORR R16<<32, R15, R15; \
	ANDW $0x3f3f3f3f, R13, R16; \
	LSRW $4, R14, R17; \
	ANDW $0x0f0f0f0f, R17, R17; \
	LSRW $6, R13, R19; \
	ANDW $0x03030303, R19, R19; \
	ORRW R19<<4, R17, R17; \
	ORR R17<<32, R16, R16; \
	VMOV R15, V24.D[0]; \
	VMOV R16, V24.D[1]; \
	VUXTL V24.B8, V25.H8; \
	VUXTL2 V24.B16, V27.H8; \
	VUXTL V25.H4, V28.S4; \
	VUXTL2 V25.H8, V29.S4

// K4_ROWS: Q4_K or Q5_K rows (BYTES per super-block, SUMS its sub-block
// sums) × Q8_K, one row per step (R3 = nrows). R0 y, R1 w, R4 q, R5 d,
// R6 ks, R7 nb. Per super-block the eight sub-block sums (V12..V19) are
// folded into V22 = [S0..S3], V23 = [S4..S7], multiplied by the scales
// and summed (isum); msum is the mins times the pair sums; then
// acc += (d·dx)·isum, acc -= (dmin·dx)·msum in F26.
#define K4_ROWS(PROD, SUMS, BYTES) \
	VMOVI $15, V31.B16; \
krow: \
	ZERO(26); \
	MOVD R4, R9; \
	MOVD R5, R10; \
	MOVD R6, R11; \
	MOVD R7, R8; \
ksb: \
	SUMS(PROD); \
	VADDP V13.S4, V12.S4, V20.S4; \
	VADDP V15.S4, V14.S4, V21.S4; \
	VADDP V21.S4, V20.S4, V22.S4; \
	VADDP V17.S4, V16.S4, V20.S4; \
	VADDP V19.S4, V18.S4, V21.S4; \
	VADDP V21.S4, V20.S4, V23.S4; \
	K4_SCALES(R1); \
	MUL4S(22, 22, 28); \
	MUL4S(23, 23, 29); \
	VADD V23.S4, V22.S4, V22.S4; \
	VADDV V22.S4, V22; \
	ADD $32, R11, R12; \
	VLD1 (R12), [V30.H8]; \
	SMULLH(24, 27, 30); \
	SMLAL2H(24, 27, 30); \
	VADDV V24.S4, V24; \
	VMOV V24.S[0], V22.S[1]; \
	SCVTF4S(22, 22); \
	MOVWU (R1), R12; \
	VMOV R12, V24.S[0]; \
	FCVTL4S(24, 24); \
	VLD1R.P 4(R10), [V25.S4]; \
	FMUL4S(24, 24, 25); \
	FMUL4S(24, 24, 22); \
	FADDS F24, F26, F26; \
	VDUP V24.S[1], V25.S4; \
	FSUBS F25, F26, F26; \
	ADD $BYTES, R1; \
	ADD $64, R11; \
	SUBS $1, R8; \
	BNE ksb; \
	FMOVS F26, (R0); \
	ADD $4, R0; \
	SUBS $1, R3; \
	BNE krow; \
	RET

// func q4_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)
TEXT ·q4_KRowsSDOT(SB), NOSPLIT, $0-56
	KROWS_ARGS
	K4_ROWS(PROD4_SDOT, Q4K_SUMS, 144)

// func q4_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)
TEXT ·q4_KRowsNEON(SB), NOSPLIT, $0-56
	KROWS_ARGS
	K4_ROWS(PROD4_NEON, Q4K_SUMS, 144)

// func q5_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)
TEXT ·q5_KRowsSDOT(SB), NOSPLIT, $0-56
	KROWS_ARGS
	K4_ROWS(PROD4_SDOT, Q5K_SUMS, 176)

// func q5_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)
TEXT ·q5_KRowsNEON(SB), NOSPLIT, $0-56
	KROWS_ARGS
	K4_ROWS(PROD4_NEON, Q5K_SUMS, 176)

// Q6_UNPACK: the 128 weights of one half of the Q6_K block at W (ql at
// QL, qh at QH) as unsigned 6-bit values into V0..V7 (16-value group k
// in Vk). V30 = 0x30, V31 = 0x0f; V8..V15 are scratch.
#define Q6_UNPACK(W, QL, QH) \
	ADD $QL, W, R12; \
	VLD1 (R12), [V8.B16, V9.B16, V10.B16, V11.B16]; \
	ADD $QH, W, R12; \
	VLD1 (R12), [V12.B16, V13.B16]; \
	VAND V31.B16, V8.B16, V0.B16; \
	VAND V31.B16, V9.B16, V1.B16; \
	VSHL $4, V12.B16, V14.B16; \
	VSHL $4, V13.B16, V15.B16; \
	VAND V30.B16, V14.B16, V14.B16; \
	VAND V30.B16, V15.B16, V15.B16; \
	VORR V14.B16, V0.B16, V0.B16; \
	VORR V15.B16, V1.B16, V1.B16; \
	VAND V31.B16, V10.B16, V2.B16; \
	VAND V31.B16, V11.B16, V3.B16; \
	VSHL $2, V12.B16, V14.B16; \
	VSHL $2, V13.B16, V15.B16; \
	VAND V30.B16, V14.B16, V14.B16; \
	VAND V30.B16, V15.B16, V15.B16; \
	VORR V14.B16, V2.B16, V2.B16; \
	VORR V15.B16, V3.B16, V3.B16; \
	VUSHR $4, V8.B16, V4.B16; \
	VUSHR $4, V9.B16, V5.B16; \
	VAND V30.B16, V12.B16, V14.B16; \
	VAND V30.B16, V13.B16, V15.B16; \
	VORR V14.B16, V4.B16, V4.B16; \
	VORR V15.B16, V5.B16, V5.B16; \
	VUSHR $4, V10.B16, V6.B16; \
	VUSHR $4, V11.B16, V7.B16; \
	VUSHR $2, V12.B16, V14.B16; \
	VUSHR $2, V13.B16, V15.B16; \
	VAND V30.B16, V14.B16, V14.B16; \
	VAND V30.B16, V15.B16, V15.B16; \
	VORR V14.B16, V6.B16, V6.B16; \
	VORR V15.B16, V7.B16, V7.B16

// Q6_GROUPS: the eight 16-value group sums V8..V15 of the unpacked half
// V0..V7 (Q6_UNPACK) times the next 128 quants (RQ), folded into
// V16 = [S0..S3] and V17 = [S4..S7] of the half. V18 is scratch.
#define Q6_GROUPS(PROD, RQ) \
	VLD1.P 32(RQ), [V16.B16, V17.B16]; \
	PROD(8, 0, 16, 18); \
	PROD(9, 1, 17, 18); \
	VLD1.P 32(RQ), [V16.B16, V17.B16]; \
	PROD(10, 2, 16, 18); \
	PROD(11, 3, 17, 18); \
	VLD1.P 32(RQ), [V16.B16, V17.B16]; \
	PROD(12, 4, 16, 18); \
	PROD(13, 5, 17, 18); \
	VLD1.P 32(RQ), [V16.B16, V17.B16]; \
	PROD(14, 6, 16, 18); \
	PROD(15, 7, 17, 18); \
	VADDP V9.S4, V8.S4, V16.S4; \
	VADDP V11.S4, V10.S4, V17.S4; \
	VADDP V17.S4, V16.S4, V16.S4; \
	VADDP V13.S4, V12.S4, V17.S4; \
	VADDP V15.S4, V14.S4, V18.S4; \
	VADDP V18.S4, V17.S4, V17.S4

// Q6_K_ROWS: Q6_K rows × Q8_K, one row per step (R3 = nrows). R0 y,
// R1 w, R4 q, R5 d, R6 ks, R7 nb. Per half, the eight 16-value groups'
// sums (V8..V15) fold into two vectors (V16..V19 = groups 0..15); isum =
// Σ sc_g·S_g - 32·Σ sc_g·bs_g (exact), and F27 does acc += (d·dx)·isum
// as dotQ6_KGeneric.
#define Q6_K_ROWS(PROD) \
	VMOVI $15, V31.B16; \
	VMOVI $48, V30.B16; \
q6row: \
	ZERO(27); \
	MOVD R4, R9; \
	MOVD R5, R10; \
	MOVD R6, R11; \
	MOVD R7, R8; \
q6sb: \
	Q6_UNPACK(R1, 0, 128); \
	Q6_GROUPS(PROD, R9); \
	VMOV V16.B16, V22.B16; \
	VMOV V17.B16, V23.B16; \
	Q6_UNPACK(R1, 64, 160); \
	Q6_GROUPS(PROD, R9); \
	VMOV V16.B16, V18.B16; \
	VMOV V17.B16, V19.B16; \
	VMOV V22.B16, V16.B16; \
	VMOV V23.B16, V17.B16; \
	ADD $192, R1, R12; \
	VLD1 (R12), [V28.B16]; \
	SXTLB(20, 28); \
	SXTL2B(21, 28); \
	VLD1 (R11), [V24.H8, V25.H8]; \
	SMULLH(22, 20, 24); \
	SMLAL2H(22, 20, 24); \
	SMLALH(22, 21, 25); \
	SMLAL2H(22, 21, 25); \
	VADDV V22.S4, V22; \
	SXTLH(23, 20); \
	SXTL2H(24, 20); \
	SXTLH(25, 21); \
	SXTL2H(26, 21); \
	MUL4S(16, 16, 23); \
	MUL4S(17, 17, 24); \
	MUL4S(18, 18, 25); \
	MUL4S(19, 19, 26); \
	VADD V17.S4, V16.S4, V16.S4; \
	VADD V19.S4, V18.S4, V18.S4; \
	VADD V18.S4, V16.S4, V16.S4; \
	VADDV V16.S4, V16; \
	VMOV V16.S[0], R12; \
	VMOV V22.S[0], R13; \
	SUBW R13<<5, R12, R12; \
	SCVTFWS R12, F20; \
	MOVHU 208(R1), R13; \
	VMOV R13, V21.S[0]; \
	FCVTL4S(21, 21); \
	FMOVS (R10), F22; \
	ADD $4, R10; \
	FMULS F22, F21, F21; \
	FMULS F20, F21, F21; \
	FADDS F21, F27, F27; \
	ADD $210, R1; \
	ADD $64, R11; \
	SUBS $1, R8; \
	BNE q6sb; \
	FMOVS F27, (R0); \
	ADD $4, R0; \
	SUBS $1, R3; \
	BNE q6row; \
	RET

// func q6_KRowsSDOT(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)
TEXT ·q6_KRowsSDOT(SB), NOSPLIT, $0-56
	KROWS_ARGS
	Q6_K_ROWS(PROD1_SDOT)

// func q6_KRowsNEON(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)
TEXT ·q6_KRowsNEON(SB), NOSPLIT, $0-56
	KROWS_ARGS
	Q6_K_ROWS(PROD1_NEON)

// K-quant prefill tiles: one row × four positions per step (R3 = nrows;
// rows are contiguous). The weights of each super-block are unpacked
// once and used for the four positions, whose results sit in the four
// lanes of ACC (lane p = position p) and follow dotQ*_KGeneric's float32
// operations each. R0 y, R1 ystride in bytes, R2 w, R4..R7 the
// positions' quants, R20 d4 (the positions' scales, interleaved), R21 k4
// (g4k: the positions' pair sums and bsums), R22 nb.
//
// KTILE: the row loop; SB(PROD) computes one super-block at R2 (the
// quants at R8..R11, the scales at R23, g4k at R24), adds it to ACC and
// moves R2 and R23, R24 on.
#define KTILE(PROD, SB, ACC) \
ktrow: \
	VEOR ACC.B16, ACC.B16, ACC.B16; \
	MOVD R4, R8; \
	MOVD R5, R9; \
	MOVD R6, R10; \
	MOVD R7, R11; \
	MOVD R20, R23; \
	MOVD R21, R24; \
	MOVD R22, R25; \
ktsb: \
	SB(PROD); \
	SUBS $1, R25; \
	BNE ktsb; \
	MOVD R0, R16; \
	VMOV ACC.S[0], R15; \
	MOVW R15, (R16); \
	ADD R1, R16, R16; \
	VMOV ACC.S[1], R15; \
	MOVW R15, (R16); \
	ADD R1, R16, R16; \
	VMOV ACC.S[2], R15; \
	MOVW R15, (R16); \
	ADD R1, R16, R16; \
	VMOV ACC.S[3], R15; \
	MOVW R15, (R16); \
	ADD $4, R0; \
	SUBS $1, R3; \
	BNE ktrow; \
	RET

// Q4KT_UNPACK: the 256 weights of the Q4_K block at R2 into V0..V15
// (sub-block j in V2j, V2j+1).
#define Q4KT_UNPACK \
	ADD $16, R2, R12; \
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]; \
	VLD1 (R12), [V20.B16, V21.B16, V22.B16, V23.B16]; \
	VMOVI $15, V24.B16; \
	K4_NIB(V16, V17, V0, V1, V2, V3, V24); \
	K4_NIB(V18, V19, V4, V5, V6, V7, V24); \
	K4_NIB(V20, V21, V8, V9, V10, V11, V24); \
	K4_NIB(V22, V23, V12, V13, V14, V15, V24)

// Q5KT_UNPACK: as Q4KT_UNPACK for the Q5_K block at R2.
#define Q5KT_UNPACK \
	ADD $16, R2, R12; \
	VLD1.P 32(R12), [V24.B16, V25.B16]; \
	VLD1.P 64(R12), [V16.B16, V17.B16, V18.B16, V19.B16]; \
	VLD1 (R12), [V20.B16, V21.B16, V22.B16, V23.B16]; \
	VMOVI $15, V26.B16; \
	VMOVI $16, V27.B16; \
	K5_NIB(V16, V17, V0, V1, V2, V3, V26, V24, V25, V27, V28); \
	K5_NIB(V18, V19, V4, V5, V6, V7, V26, V24, V25, V27, V28); \
	K5_NIB(V20, V21, V8, V9, V10, V11, V26, V24, V25, V27, V28); \
	K5_NIB(V22, V23, V12, V13, V14, V15, V26, V24, V25, V27, V28)

// K4T_POS: isum of the position whose quants are at RQ (256 bytes,
// post-incremented) against the unpacked weights V0..V15 and the scales
// V28, V29, into lane LANE of V30.
#define K4T_POS(PROD, RQ, LANE) \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(16, 0, 1, 24, 25, 26); \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(17, 2, 3, 24, 25, 26); \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(18, 4, 5, 24, 25, 26); \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(19, 6, 7, 24, 25, 26); \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(20, 8, 9, 24, 25, 26); \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(21, 10, 11, 24, 25, 26); \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(22, 12, 13, 24, 25, 26); \
	VLD1.P 32(RQ), [V24.B16, V25.B16]; \
	PROD(23, 14, 15, 24, 25, 26); \
	VADDP V17.S4, V16.S4, V24.S4; \
	VADDP V19.S4, V18.S4, V25.S4; \
	VADDP V25.S4, V24.S4, V24.S4; \
	VADDP V21.S4, V20.S4, V25.S4; \
	VADDP V23.S4, V22.S4, V26.S4; \
	VADDP V26.S4, V25.S4, V25.S4; \
	MUL4S(24, 24, 28); \
	MUL4S(25, 25, 29); \
	VADD V25.S4, V24.S4, V24.S4; \
	VADDV V24.S4, V24; \
	VMOV V24.S[0], V30.S[LANE]

// K4T_SB: one Q4_K/Q5_K super-block (UNPACK, BYTES) for the four
// positions: isum in V30, msum (mins × pair sums) in V20, then
// acc += (d·dx)·isum, acc -= (dmin·dx)·msum lane by lane in V31.
#define K4T_SB(PROD, UNPACK, BYTES) \
	UNPACK; \
	K4_SCALES(R2); \
	K4T_POS(PROD, R8, 0); \
	K4T_POS(PROD, R9, 1); \
	K4T_POS(PROD, R10, 2); \
	K4T_POS(PROD, R11, 3); \
	VLD1.P 64(R24), [V16.H8, V17.H8, V18.H8, V19.H8]; \
	ADD $128, R24; \
	SMULLH(20, 16, 27); \
	SMLAL2H(20, 16, 27); \
	SMULLH(21, 17, 27); \
	SMLAL2H(21, 17, 27); \
	SMULLH(22, 18, 27); \
	SMLAL2H(22, 18, 27); \
	SMULLH(23, 19, 27); \
	SMLAL2H(23, 19, 27); \
	VADDP V21.S4, V20.S4, V20.S4; \
	VADDP V23.S4, V22.S4, V22.S4; \
	VADDP V22.S4, V20.S4, V20.S4; \
	SCVTF4S(30, 30); \
	SCVTF4S(20, 20); \
	MOVWU (R2), R16; \
	VMOV R16, V24.S[0]; \
	FCVTL4S(24, 24); \
	VDUP V24.S[0], V25.S4; \
	VDUP V24.S[1], V26.S4; \
	VLD1.P 16(R23), [V24.S4]; \
	FMUL4S(25, 25, 24); \
	FMUL4S(26, 26, 24); \
	FMUL4S(25, 25, 30); \
	FADD4S(31, 31, 25); \
	FMUL4S(26, 26, 20); \
	FSUB4S(31, 31, 26); \
	ADD $BYTES, R2

#define Q4KT_SB(PROD) K4T_SB(PROD, Q4KT_UNPACK, 144)
#define Q5KT_SB(PROD) K4T_SB(PROD, Q5KT_UNPACK, 176)

// func q4_KTileSDOT(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
TEXT ·q4_KTileSDOT(SB), NOSPLIT, $0-64
	KTILE_ARGS
	KTILE(PROD4_SDOT, Q4KT_SB, V31)

// func q4_KTileNEON(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
TEXT ·q4_KTileNEON(SB), NOSPLIT, $0-64
	KTILE_ARGS
	KTILE(PROD4_NEON, Q4KT_SB, V31)

// func q5_KTileSDOT(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
TEXT ·q5_KTileSDOT(SB), NOSPLIT, $0-64
	KTILE_ARGS
	KTILE(PROD4_SDOT, Q5KT_SB, V31)

// func q5_KTileNEON(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
TEXT ·q5_KTileNEON(SB), NOSPLIT, $0-64
	KTILE_ARGS
	KTILE(PROD4_NEON, Q5KT_SB, V31)

// Q6T_POS: Σ sc_g·S_g over the eight groups of the half (weights V0..V7,
// scales as int32 in VSCA, VSCB) for the position whose quants are at RQ
// (128 bytes, post-incremented), into lane LANE of ISUM.
#define Q6T_POS(PROD, RQ, SCA, SCB, ISUM, LANE) \
	Q6_GROUPS(PROD, RQ); \
	MUL4S(16, 16, SCA); \
	MUL4S(17, 17, SCB); \
	VADD V17.S4, V16.S4, V16.S4; \
	VADDV V16.S4, V16; \
	VMOV V16.S[0], ISUM.S[LANE]

// Q6T_HALF: one half of the Q6_K block at R2 for the four positions.
#define Q6T_HALF(PROD, QL, QH, SCA, SCB, ISUM) \
	Q6_UNPACK(R2, QL, QH); \
	Q6T_POS(PROD, R8, SCA, SCB, ISUM, 0); \
	Q6T_POS(PROD, R9, SCA, SCB, ISUM, 1); \
	Q6T_POS(PROD, R10, SCA, SCB, ISUM, 2); \
	Q6T_POS(PROD, R11, SCA, SCB, ISUM, 3)

// Q6T_SB: one Q6_K super-block for the four positions. The scales are
// kept as int16 (V20, V21) and int32 (V22..V25); isum = Σ sc_g·S_g (V26
// + V27, one per half) - 32·Σ sc_g·bs_g (exact, as Q6_K_ROWS), then
// acc += (d·dx)·isum lane by lane in V28.
#define Q6T_SB(PROD) \
	ADD $192, R2, R12; \
	VLD1 (R12), [V16.B16]; \
	SXTLB(20, 16); \
	SXTL2B(21, 16); \
	SXTLH(22, 20); \
	SXTL2H(23, 20); \
	SXTLH(24, 21); \
	SXTL2H(25, 21); \
	Q6T_HALF(PROD, 0, 128, 22, 23, V26); \
	Q6T_HALF(PROD, 64, 160, 24, 25, V27); \
	VADD V27.S4, V26.S4, V26.S4; \
	ADD $64, R24, R12; \
	VLD1.P 64(R12), [V8.H8, V9.H8, V10.H8, V11.H8]; \
	VLD1 (R12), [V12.H8, V13.H8, V14.H8, V15.H8]; \
	ADD $192, R24; \
	SMULLH(16, 20, 8); \
	SMLAL2H(16, 20, 8); \
	SMLALH(16, 21, 9); \
	SMLAL2H(16, 21, 9); \
	SMULLH(17, 20, 10); \
	SMLAL2H(17, 20, 10); \
	SMLALH(17, 21, 11); \
	SMLAL2H(17, 21, 11); \
	SMULLH(18, 20, 12); \
	SMLAL2H(18, 20, 12); \
	SMLALH(18, 21, 13); \
	SMLAL2H(18, 21, 13); \
	SMULLH(19, 20, 14); \
	SMLAL2H(19, 20, 14); \
	SMLALH(19, 21, 15); \
	SMLAL2H(19, 21, 15); \
	VADDP V17.S4, V16.S4, V16.S4; \
	VADDP V19.S4, V18.S4, V18.S4; \
	VADDP V18.S4, V16.S4, V16.S4; \
	VSHL $5, V16.S4, V16.S4; \
	VSUB V16.S4, V26.S4, V26.S4; \
	SCVTF4S(26, 26); \
	MOVHU 208(R2), R13; \
	VMOV R13, V29.S[0]; \
	FCVTL4S(29, 29); \
	VDUP V29.S[0], V29.S4; \
	VLD1.P 16(R23), [V16.S4]; \
	FMUL4S(29, 29, 16); \
	FMUL4S(29, 29, 26); \
	FADD4S(28, 28, 29); \
	ADD $210, R2

// func q6_KTileSDOT(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
TEXT ·q6_KTileSDOT(SB), NOSPLIT, $0-64
	KTILE_ARGS
	VMOVI $15, V31.B16
	VMOVI $48, V30.B16
	KTILE(PROD1_SDOT, Q6T_SB, V28)

// func q6_KTileNEON(y *float32, ystride int, w *byte, nrows int, q *[4]*int8, d4 *float32, k4 *int16, nb int)
TEXT ·q6_KTileNEON(SB), NOSPLIT, $0-64
	KTILE_ARGS
	VMOVI $15, V31.B16
	VMOVI $48, V30.B16
	KTILE(PROD1_NEON, Q6T_SB, V28)
