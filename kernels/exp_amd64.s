//go:build amd64 && !purego

#include "textflag.h"

// exp32 (exp.go) on eight lanes: the same float32 operations in the same
// order, VMULPS and VADDPS separately rounded (no FMA).

// expc<> holds each constant of exp32 repeated in eight lanes (32 bytes
// each): lo, hi, log2e, magic, ln2hi, ln2lo, the eight Taylor
// coefficients, the exponent bias 127 (int32) and the sign bit.
DATA expc<>+0(SB)/4, $0xc2d00000
DATA expc<>+4(SB)/4, $0xc2d00000
DATA expc<>+8(SB)/4, $0xc2d00000
DATA expc<>+12(SB)/4, $0xc2d00000
DATA expc<>+16(SB)/4, $0xc2d00000
DATA expc<>+20(SB)/4, $0xc2d00000
DATA expc<>+24(SB)/4, $0xc2d00000
DATA expc<>+28(SB)/4, $0xc2d00000
DATA expc<>+32(SB)/4, $0x42b20000
DATA expc<>+36(SB)/4, $0x42b20000
DATA expc<>+40(SB)/4, $0x42b20000
DATA expc<>+44(SB)/4, $0x42b20000
DATA expc<>+48(SB)/4, $0x42b20000
DATA expc<>+52(SB)/4, $0x42b20000
DATA expc<>+56(SB)/4, $0x42b20000
DATA expc<>+60(SB)/4, $0x42b20000
DATA expc<>+64(SB)/4, $0x3fb8aa3b
DATA expc<>+68(SB)/4, $0x3fb8aa3b
DATA expc<>+72(SB)/4, $0x3fb8aa3b
DATA expc<>+76(SB)/4, $0x3fb8aa3b
DATA expc<>+80(SB)/4, $0x3fb8aa3b
DATA expc<>+84(SB)/4, $0x3fb8aa3b
DATA expc<>+88(SB)/4, $0x3fb8aa3b
DATA expc<>+92(SB)/4, $0x3fb8aa3b
DATA expc<>+96(SB)/4, $0x4b400000
DATA expc<>+100(SB)/4, $0x4b400000
DATA expc<>+104(SB)/4, $0x4b400000
DATA expc<>+108(SB)/4, $0x4b400000
DATA expc<>+112(SB)/4, $0x4b400000
DATA expc<>+116(SB)/4, $0x4b400000
DATA expc<>+120(SB)/4, $0x4b400000
DATA expc<>+124(SB)/4, $0x4b400000
DATA expc<>+128(SB)/4, $0x3f318000
DATA expc<>+132(SB)/4, $0x3f318000
DATA expc<>+136(SB)/4, $0x3f318000
DATA expc<>+140(SB)/4, $0x3f318000
DATA expc<>+144(SB)/4, $0x3f318000
DATA expc<>+148(SB)/4, $0x3f318000
DATA expc<>+152(SB)/4, $0x3f318000
DATA expc<>+156(SB)/4, $0x3f318000
DATA expc<>+160(SB)/4, $0xb95e8083
DATA expc<>+164(SB)/4, $0xb95e8083
DATA expc<>+168(SB)/4, $0xb95e8083
DATA expc<>+172(SB)/4, $0xb95e8083
DATA expc<>+176(SB)/4, $0xb95e8083
DATA expc<>+180(SB)/4, $0xb95e8083
DATA expc<>+184(SB)/4, $0xb95e8083
DATA expc<>+188(SB)/4, $0xb95e8083
DATA expc<>+192(SB)/4, $0x39500d01
DATA expc<>+196(SB)/4, $0x39500d01
DATA expc<>+200(SB)/4, $0x39500d01
DATA expc<>+204(SB)/4, $0x39500d01
DATA expc<>+208(SB)/4, $0x39500d01
DATA expc<>+212(SB)/4, $0x39500d01
DATA expc<>+216(SB)/4, $0x39500d01
DATA expc<>+220(SB)/4, $0x39500d01
DATA expc<>+224(SB)/4, $0x3ab60b61
DATA expc<>+228(SB)/4, $0x3ab60b61
DATA expc<>+232(SB)/4, $0x3ab60b61
DATA expc<>+236(SB)/4, $0x3ab60b61
DATA expc<>+240(SB)/4, $0x3ab60b61
DATA expc<>+244(SB)/4, $0x3ab60b61
DATA expc<>+248(SB)/4, $0x3ab60b61
DATA expc<>+252(SB)/4, $0x3ab60b61
DATA expc<>+256(SB)/4, $0x3c088889
DATA expc<>+260(SB)/4, $0x3c088889
DATA expc<>+264(SB)/4, $0x3c088889
DATA expc<>+268(SB)/4, $0x3c088889
DATA expc<>+272(SB)/4, $0x3c088889
DATA expc<>+276(SB)/4, $0x3c088889
DATA expc<>+280(SB)/4, $0x3c088889
DATA expc<>+284(SB)/4, $0x3c088889
DATA expc<>+288(SB)/4, $0x3d2aaaab
DATA expc<>+292(SB)/4, $0x3d2aaaab
DATA expc<>+296(SB)/4, $0x3d2aaaab
DATA expc<>+300(SB)/4, $0x3d2aaaab
DATA expc<>+304(SB)/4, $0x3d2aaaab
DATA expc<>+308(SB)/4, $0x3d2aaaab
DATA expc<>+312(SB)/4, $0x3d2aaaab
DATA expc<>+316(SB)/4, $0x3d2aaaab
DATA expc<>+320(SB)/4, $0x3e2aaaab
DATA expc<>+324(SB)/4, $0x3e2aaaab
DATA expc<>+328(SB)/4, $0x3e2aaaab
DATA expc<>+332(SB)/4, $0x3e2aaaab
DATA expc<>+336(SB)/4, $0x3e2aaaab
DATA expc<>+340(SB)/4, $0x3e2aaaab
DATA expc<>+344(SB)/4, $0x3e2aaaab
DATA expc<>+348(SB)/4, $0x3e2aaaab
DATA expc<>+352(SB)/4, $0x3f000000
DATA expc<>+356(SB)/4, $0x3f000000
DATA expc<>+360(SB)/4, $0x3f000000
DATA expc<>+364(SB)/4, $0x3f000000
DATA expc<>+368(SB)/4, $0x3f000000
DATA expc<>+372(SB)/4, $0x3f000000
DATA expc<>+376(SB)/4, $0x3f000000
DATA expc<>+380(SB)/4, $0x3f000000
DATA expc<>+384(SB)/4, $0x3f800000
DATA expc<>+388(SB)/4, $0x3f800000
DATA expc<>+392(SB)/4, $0x3f800000
DATA expc<>+396(SB)/4, $0x3f800000
DATA expc<>+400(SB)/4, $0x3f800000
DATA expc<>+404(SB)/4, $0x3f800000
DATA expc<>+408(SB)/4, $0x3f800000
DATA expc<>+412(SB)/4, $0x3f800000
DATA expc<>+416(SB)/4, $0x3f800000
DATA expc<>+420(SB)/4, $0x3f800000
DATA expc<>+424(SB)/4, $0x3f800000
DATA expc<>+428(SB)/4, $0x3f800000
DATA expc<>+432(SB)/4, $0x3f800000
DATA expc<>+436(SB)/4, $0x3f800000
DATA expc<>+440(SB)/4, $0x3f800000
DATA expc<>+444(SB)/4, $0x3f800000
DATA expc<>+448(SB)/4, $0x0000007f
DATA expc<>+452(SB)/4, $0x0000007f
DATA expc<>+456(SB)/4, $0x0000007f
DATA expc<>+460(SB)/4, $0x0000007f
DATA expc<>+464(SB)/4, $0x0000007f
DATA expc<>+468(SB)/4, $0x0000007f
DATA expc<>+472(SB)/4, $0x0000007f
DATA expc<>+476(SB)/4, $0x0000007f
DATA expc<>+480(SB)/4, $0x80000000
DATA expc<>+484(SB)/4, $0x80000000
DATA expc<>+488(SB)/4, $0x80000000
DATA expc<>+492(SB)/4, $0x80000000
DATA expc<>+496(SB)/4, $0x80000000
DATA expc<>+500(SB)/4, $0x80000000
DATA expc<>+504(SB)/4, $0x80000000
DATA expc<>+508(SB)/4, $0x80000000
GLOBL expc<>(SB), RODATA|NOPTR, $512

// EXP8 sets X to exp32 of its lanes (T1, T2, T3 scratch). The clamps put
// X second, so that a NaN lane stays NaN as in the Go code.
#define EXP8(X, T1, T2, T3) \
	VMOVUPS expc<>+0(SB), T1; \
	VMAXPS X, T1, X; \
	VMOVUPS expc<>+32(SB), T1; \
	VMINPS X, T1, X; \
	VMULPS expc<>+64(SB), X, T1; \
	VADDPS expc<>+96(SB), T1, T1; \
	VPSUBD expc<>+96(SB), T1, T2; \
	VSUBPS expc<>+96(SB), T1, T1; \
	VMULPS expc<>+128(SB), T1, T3; \
	VSUBPS T3, X, X; \
	VMULPS expc<>+160(SB), T1, T3; \
	VSUBPS T3, X, X; \
	VMOVUPS expc<>+192(SB), T1; \
	VMULPS X, T1, T1; \
	VADDPS expc<>+224(SB), T1, T1; \
	VMULPS X, T1, T1; \
	VADDPS expc<>+256(SB), T1, T1; \
	VMULPS X, T1, T1; \
	VADDPS expc<>+288(SB), T1, T1; \
	VMULPS X, T1, T1; \
	VADDPS expc<>+320(SB), T1, T1; \
	VMULPS X, T1, T1; \
	VADDPS expc<>+352(SB), T1, T1; \
	VMULPS X, T1, T1; \
	VADDPS expc<>+384(SB), T1, T1; \
	VMULPS X, T1, T1; \
	VADDPS expc<>+416(SB), T1, T1; \
	VPSRAD $1, T2, T3; \
	VPSUBD T3, T2, T2; \
	VPADDD expc<>+448(SB), T3, T3; \
	VPSLLD $23, T3, T3; \
	VPADDD expc<>+448(SB), T2, T2; \
	VPSLLD $23, T2, T2; \
	VMULPS T3, T1, T1; \
	VMULPS T2, T1, X

// func expShiftAVX2(dst, src *float32, m float32, n8 int)
//
// dst[i] = exp32(src[i] - m) for i < 8·n8.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	VBROADCASTSS m+16(FP), Y7
	MOVQ n8+24(FP), CX

eloop:
	VMOVUPS (SI), Y0
	VSUBPS Y7, Y0, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ eloop
	VZEROUPPER
	RET

// func swiGLUAVX2(dst, gate, up *float32, n8 int)
//
// dst[i] = g/(1 + exp32(-g))·up[i], g = gate[i], for i < 8·n8.
TEXT ·swiGLUAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n8+24(FP), CX

gloop:
	VMOVUPS (SI), Y4
	VXORPS expc<>+480(SB), Y4, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VADDPS expc<>+416(SB), Y0, Y0
	VDIVPS Y0, Y4, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ gloop
	VZEROUPPER
	RET
