//go:build arm64 && !purego

#include "textflag.h"
#include "kernels_arm64.h"

// Attention products (see attn.go): lanes are outputs, and each lane
// does the reference loop's float32 steps, FMUL then FADD (never FMLA).

// func scoresTNEON(dst, q, kt *float32, ld, nq, n4 int)
//
// dst[j] = Σ_d q[d]·kt[d*ld+j] for j < 4·n4 (ld in bytes): 16 keys per
// pass while there are, then 4.
TEXT ·scoresTNEON(SB), NOSPLIT, $0-48
	MOVD dst+0(FP), R0
	MOVD kt+16(FP), R2
	MOVD ld+24(FP), R3
	MOVD n4+40(FP), R5

s16:
	CMP $4, R5
	BLT s4
	ZERO(0)
	ZERO(1)
	ZERO(2)
	ZERO(3)
	MOVD q+8(FP), R1
	MOVD R2, R6
	MOVD nq+32(FP), R7

s16d:
	VLD1R.P 4(R1), [V4.S4]
	VLD1 (R6), [V5.S4, V6.S4, V7.S4, V8.S4]
	FMUL4S(5, 5, 4)
	FMUL4S(6, 6, 4)
	FMUL4S(7, 7, 4)
	FMUL4S(8, 8, 4)
	FADD4S(0, 0, 5)
	FADD4S(1, 1, 6)
	FADD4S(2, 2, 7)
	FADD4S(3, 3, 8)
	ADD R3, R6
	SUBS $1, R7
	BNE s16d
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	ADD $64, R2
	SUB $4, R5
	B s16

s4:
	CBZ R5, sdone
	ZERO(0)
	MOVD q+8(FP), R1
	MOVD R2, R6
	MOVD nq+32(FP), R7

s4d:
	VLD1R.P 4(R1), [V4.S4]
	VLD1 (R6), [V5.S4]
	FMUL4S(5, 5, 4)
	FADD4S(0, 0, 5)
	ADD R3, R6
	SUBS $1, R7
	BNE s4d
	VST1.P [V0.S4], 16(R0)
	ADD $16, R2
	SUB $1, R5
	B s4

sdone:
	RET

// func addRowsNEON(dst, w, v *float32, ld, nw, n4 int)
//
// dst[i] += w[j]·v[j*ld+i] for j = 0..nw-1 in turn, i < 4·n4 (ld in
// bytes): 32 outputs per pass while there are, then 4.
TEXT ·addRowsNEON(SB), NOSPLIT, $0-48
	MOVD dst+0(FP), R0
	MOVD v+16(FP), R2
	MOVD ld+24(FP), R3
	MOVD n4+40(FP), R5

a32:
	CMP $8, R5
	BLT a4
	VLD1 (R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	ADD $64, R0, R8
	VLD1 (R8), [V4.S4, V5.S4, V6.S4, V7.S4]
	MOVD w+8(FP), R1
	MOVD R2, R6
	MOVD nw+32(FP), R7

a32j:
	VLD1R.P 4(R1), [V16.S4]
	VLD1 (R6), [V17.S4, V18.S4, V19.S4, V20.S4]
	ADD $64, R6, R9
	VLD1 (R9), [V21.S4, V22.S4, V23.S4, V24.S4]
	FMUL4S(17, 17, 16)
	FMUL4S(18, 18, 16)
	FMUL4S(19, 19, 16)
	FMUL4S(20, 20, 16)
	FMUL4S(21, 21, 16)
	FMUL4S(22, 22, 16)
	FMUL4S(23, 23, 16)
	FMUL4S(24, 24, 16)
	FADD4S(0, 0, 17)
	FADD4S(1, 1, 18)
	FADD4S(2, 2, 19)
	FADD4S(3, 3, 20)
	FADD4S(4, 4, 21)
	FADD4S(5, 5, 22)
	FADD4S(6, 6, 23)
	FADD4S(7, 7, 24)
	ADD R3, R6
	SUBS $1, R7
	BNE a32j
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)
	ADD $128, R2
	SUB $8, R5
	B a32

a4:
	CBZ R5, adone
	VLD1 (R0), [V0.S4]
	MOVD w+8(FP), R1
	MOVD R2, R6
	MOVD nw+32(FP), R7

a4j:
	VLD1R.P 4(R1), [V16.S4]
	VLD1 (R6), [V17.S4]
	FMUL4S(17, 17, 16)
	FADD4S(0, 0, 17)
	ADD R3, R6
	SUBS $1, R7
	BNE a4j
	VST1.P [V0.S4], 16(R0)
	ADD $16, R2
	SUB $1, R5
	B a4

adone:
	RET
