//go:build arm64 && !purego

#include "textflag.h"
#include "kernels_arm64.h"

// exp32 (exp.go) on four lanes: the same float32 operations in the same
// order, FMUL and FADD separately rounded (never FMLA). FMAX and FMIN
// keep a NaN lane NaN, as the Go code's comparisons do.

// Hand-encoded: FMAX, FMIN, FDIV (4S); integer ADD, SUB (4S); SSHR #1
// and SHL #23 (4S).
#define FMAX4S(d, n, m) WORD $(0x4E20F400 | (m)<<16 | (n)<<5 | (d))
#define FMIN4S(d, n, m) WORD $(0x4EA0F400 | (m)<<16 | (n)<<5 | (d))
#define FDIV4S(d, n, m) WORD $(0x6E20FC00 | (m)<<16 | (n)<<5 | (d))
#define ADD4S(d, n, m) WORD $(0x4EA08400 | (m)<<16 | (n)<<5 | (d))
#define SUB4S(d, n, m) WORD $(0x6EA08400 | (m)<<16 | (n)<<5 | (d))
#define SSHR4S1(d, n) WORD $(0x4F3F0400 | (n)<<5 | (d))
#define SHL4S23(d, n) WORD $(0x4F375400 | (n)<<5 | (d))

// expc4<> holds exp32's constants, each in four lanes: lo, hi, log2e,
// magic, ln2hi, ln2lo, the eight Taylor coefficients, the bias 127 and
// the sign bit. LOADC puts them in V16..V31.
DATA expc4<>+0(SB)/4, $0xc2d00000
DATA expc4<>+4(SB)/4, $0xc2d00000
DATA expc4<>+8(SB)/4, $0xc2d00000
DATA expc4<>+12(SB)/4, $0xc2d00000
DATA expc4<>+16(SB)/4, $0x42b20000
DATA expc4<>+20(SB)/4, $0x42b20000
DATA expc4<>+24(SB)/4, $0x42b20000
DATA expc4<>+28(SB)/4, $0x42b20000
DATA expc4<>+32(SB)/4, $0x3fb8aa3b
DATA expc4<>+36(SB)/4, $0x3fb8aa3b
DATA expc4<>+40(SB)/4, $0x3fb8aa3b
DATA expc4<>+44(SB)/4, $0x3fb8aa3b
DATA expc4<>+48(SB)/4, $0x4b400000
DATA expc4<>+52(SB)/4, $0x4b400000
DATA expc4<>+56(SB)/4, $0x4b400000
DATA expc4<>+60(SB)/4, $0x4b400000
DATA expc4<>+64(SB)/4, $0x3f318000
DATA expc4<>+68(SB)/4, $0x3f318000
DATA expc4<>+72(SB)/4, $0x3f318000
DATA expc4<>+76(SB)/4, $0x3f318000
DATA expc4<>+80(SB)/4, $0xb95e8083
DATA expc4<>+84(SB)/4, $0xb95e8083
DATA expc4<>+88(SB)/4, $0xb95e8083
DATA expc4<>+92(SB)/4, $0xb95e8083
DATA expc4<>+96(SB)/4, $0x39500d01
DATA expc4<>+100(SB)/4, $0x39500d01
DATA expc4<>+104(SB)/4, $0x39500d01
DATA expc4<>+108(SB)/4, $0x39500d01
DATA expc4<>+112(SB)/4, $0x3ab60b61
DATA expc4<>+116(SB)/4, $0x3ab60b61
DATA expc4<>+120(SB)/4, $0x3ab60b61
DATA expc4<>+124(SB)/4, $0x3ab60b61
DATA expc4<>+128(SB)/4, $0x3c088889
DATA expc4<>+132(SB)/4, $0x3c088889
DATA expc4<>+136(SB)/4, $0x3c088889
DATA expc4<>+140(SB)/4, $0x3c088889
DATA expc4<>+144(SB)/4, $0x3d2aaaab
DATA expc4<>+148(SB)/4, $0x3d2aaaab
DATA expc4<>+152(SB)/4, $0x3d2aaaab
DATA expc4<>+156(SB)/4, $0x3d2aaaab
DATA expc4<>+160(SB)/4, $0x3e2aaaab
DATA expc4<>+164(SB)/4, $0x3e2aaaab
DATA expc4<>+168(SB)/4, $0x3e2aaaab
DATA expc4<>+172(SB)/4, $0x3e2aaaab
DATA expc4<>+176(SB)/4, $0x3f000000
DATA expc4<>+180(SB)/4, $0x3f000000
DATA expc4<>+184(SB)/4, $0x3f000000
DATA expc4<>+188(SB)/4, $0x3f000000
DATA expc4<>+192(SB)/4, $0x3f800000
DATA expc4<>+196(SB)/4, $0x3f800000
DATA expc4<>+200(SB)/4, $0x3f800000
DATA expc4<>+204(SB)/4, $0x3f800000
DATA expc4<>+208(SB)/4, $0x3f800000
DATA expc4<>+212(SB)/4, $0x3f800000
DATA expc4<>+216(SB)/4, $0x3f800000
DATA expc4<>+220(SB)/4, $0x3f800000
DATA expc4<>+224(SB)/4, $0x0000007f
DATA expc4<>+228(SB)/4, $0x0000007f
DATA expc4<>+232(SB)/4, $0x0000007f
DATA expc4<>+236(SB)/4, $0x0000007f
DATA expc4<>+240(SB)/4, $0x80000000
DATA expc4<>+244(SB)/4, $0x80000000
DATA expc4<>+248(SB)/4, $0x80000000
DATA expc4<>+252(SB)/4, $0x80000000
GLOBL expc4<>(SB), RODATA|NOPTR, $256

#define LOADC \
	MOVD $expc4<>(SB), R9; \
	VLD1.P 64(R9), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P 64(R9), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VLD1.P 64(R9), [V24.S4, V25.S4, V26.S4, V27.S4]; \
	VLD1 (R9), [V28.S4, V29.S4, V30.S4, V31.S4]

// EXP4 sets V<x> to exp32 of its lanes (t1, t2, t3 scratch).
#define EXP4(x, t1, t2, t3) \
	FMAX4S(x, 16, x); \
	FMIN4S(x, 17, x); \
	FMUL4S(t1, x, 18); \
	FADD4S(t1, t1, 19); \
	SUB4S(t2, t1, 19); \
	FSUB4S(t1, t1, 19); \
	FMUL4S(t3, t1, 20); \
	FSUB4S(x, x, t3); \
	FMUL4S(t3, t1, 21); \
	FSUB4S(x, x, t3); \
	FMUL4S(t1, 22, x); \
	FADD4S(t1, t1, 23); \
	FMUL4S(t1, t1, x); \
	FADD4S(t1, t1, 24); \
	FMUL4S(t1, t1, x); \
	FADD4S(t1, t1, 25); \
	FMUL4S(t1, t1, x); \
	FADD4S(t1, t1, 26); \
	FMUL4S(t1, t1, x); \
	FADD4S(t1, t1, 27); \
	FMUL4S(t1, t1, x); \
	FADD4S(t1, t1, 28); \
	FMUL4S(t1, t1, x); \
	FADD4S(t1, t1, 29); \
	SSHR4S1(t3, t2); \
	SUB4S(t2, t2, t3); \
	ADD4S(t3, t3, 30); \
	SHL4S23(t3, t3); \
	ADD4S(t2, t2, 30); \
	SHL4S23(t2, t2); \
	FMUL4S(t1, t1, t3); \
	FMUL4S(x, t1, t2)

// func expShiftNEON(dst, src *float32, m float32, n4 int)
TEXT ·expShiftNEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	FMOVS m+16(FP), F8
	VDUP V8.S[0], V8.S4
	MOVD n4+24(FP), R2
	LOADC

eloop:
	VLD1.P 16(R1), [V0.S4]
	FSUB4S(0, 0, 8)
	EXP4(0, 1, 2, 3)
	VST1.P [V0.S4], 16(R0)
	SUBS $1, R2
	BNE eloop
	RET

// func swiGLUNEON(dst, gate, up *float32, n4 int)
TEXT ·swiGLUNEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD gate+8(FP), R1
	MOVD up+16(FP), R3
	MOVD n4+24(FP), R2
	LOADC

gloop:
	VLD1.P 16(R1), [V4.S4]
	VLD1.P 16(R3), [V5.S4]
	VEOR V31.B16, V4.B16, V0.B16
	EXP4(0, 1, 2, 3)
	FADD4S(0, 0, 29)
	FDIV4S(0, 4, 0)
	FMUL4S(0, 0, 5)
	VST1.P [V0.S4], 16(R0)
	SUBS $1, R2
	BNE gloop
	RET
