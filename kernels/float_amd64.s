//go:build amd64 && !purego

#include "textflag.h"

// Float rows, four per step. Lane j of a row's accumulator is the generic
// code's s_j (values 8i+j), each product rounded before the add (VMULPS
// then VADDPS, no FMA), and the lanes are combined as sum8 does:
// VHADDPS pairs give s0+s1, s2+s3 (and s4+s5, s6+s7), a second VHADDPS
// (s0+s1)+(s2+s3), and the two 128-bit halves are added last. Columns
// after the last whole 8 are added by the Go wrapper, in order.

// FROWS_REDUCE combines the four accumulators Y0..Y3 into X0 = the four
// rows' sum8 values.
#define FROWS_REDUCE \
	VHADDPS Y1, Y0, Y0; \
	VHADDPS Y3, Y2, Y2; \
	VHADDPS Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0

#define FPREFETCH \
	LEAQ (BX)(R8*4), AX; \
	PREFETCHT0 (AX); \
	PREFETCHT0 (AX)(R8*1); \
	PREFETCHT0 (AX)(R8*2); \
	PREFETCHT0 (AX)(R9*1)

// func f32RowsAVX2(y *float32, w *byte, rowBytes, nrows int, x *float32, n8 int)
TEXT ·f32RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9

fgroup:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ SI, BX
	MOVQ x+32(FP), DX
	MOVQ n8+40(FP), CX

fstep:
	FPREFETCH
	VMOVUPS (DX), Y4
	VMULPS (BX), Y4, Y5
	VADDPS Y5, Y0, Y0
	VMULPS (BX)(R8*1), Y4, Y6
	VADDPS Y6, Y1, Y1
	VMULPS (BX)(R8*2), Y4, Y7
	VADDPS Y7, Y2, Y2
	VMULPS (BX)(R9*1), Y4, Y8
	VADDPS Y8, Y3, Y3
	ADDQ $32, BX
	ADDQ $32, DX
	DECQ CX
	JNZ fstep

	FROWS_REDUCE
	VMOVUPS X0, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA fgroup
	VZEROUPPER
	RET

// func f16RowsAVX2(y *float32, w *byte, rowBytes, nrows int, x *float32, n8 int)
//
// As f32RowsAVX2 with f16 weights, converted exactly by VCVTPH2PS.
TEXT ·f16RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9

hgroup:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ SI, BX
	MOVQ x+32(FP), DX
	MOVQ n8+40(FP), CX

hstep:
	FPREFETCH
	VMOVUPS (DX), Y4
	VCVTPH2PS (BX), Y5
	VMULPS Y4, Y5, Y5
	VADDPS Y5, Y0, Y0
	VCVTPH2PS (BX)(R8*1), Y6
	VMULPS Y4, Y6, Y6
	VADDPS Y6, Y1, Y1
	VCVTPH2PS (BX)(R8*2), Y7
	VMULPS Y4, Y7, Y7
	VADDPS Y7, Y2, Y2
	VCVTPH2PS (BX)(R9*1), Y8
	VMULPS Y4, Y8, Y8
	VADDPS Y8, Y3, Y3
	ADDQ $16, BX
	ADDQ $32, DX
	DECQ CX
	JNZ hstep

	FROWS_REDUCE
	VMOVUPS X0, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA hgroup
	VZEROUPPER
	RET

// BF16 converts the eight bf16 weights at M to float32 in Y (exactly:
// bf16 is the top half of a float32).
#define BF16(M, Y) \
	VPMOVZXWD M, Y; \
	VPSLLD $16, Y, Y

// func bf16RowsAVX2(y *float32, w *byte, rowBytes, nrows int, x *float32, n8 int)
//
// As f32RowsAVX2 with bf16 weights (the activations are bf16-rounded).
TEXT ·bf16RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9

bgroup:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ SI, BX
	MOVQ x+32(FP), DX
	MOVQ n8+40(FP), CX

bstep:
	FPREFETCH
	VMOVUPS (DX), Y4
	BF16((BX), Y5)
	VMULPS Y4, Y5, Y5
	VADDPS Y5, Y0, Y0
	BF16((BX)(R8*1), Y6)
	VMULPS Y4, Y6, Y6
	VADDPS Y6, Y1, Y1
	BF16((BX)(R8*2), Y7)
	VMULPS Y4, Y7, Y7
	VADDPS Y7, Y2, Y2
	BF16((BX)(R9*1), Y8)
	VMULPS Y4, Y8, Y8
	VADDPS Y8, Y3, Y3
	ADDQ $16, BX
	ADDQ $32, DX
	DECQ CX
	JNZ bstep

	FROWS_REDUCE
	VMOVUPS X0, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA bgroup
	VZEROUPPER
	RET
