//go:build amd64 && !purego

#include "textflag.h"

// Attention products (see attn.go): lanes are outputs, and each lane
// does the reference loop's float32 steps, VMULPS then VADDPS (never FMA).

// func scoresTAVX2(dst, q, kt *float32, ld, nq, n8 int)
//
// dst[j] = Σ_d q[d]·kt[d*ld+j] for j < 8·n8 (ld in bytes), 32 keys per
// pass while there are, then 8: each pass runs d from 0 to nq-1 with
// the keys in the lanes of four (or one) accumulators.
TEXT ·scoresTAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ kt+16(FP), DX
	MOVQ ld+24(FP), R8
	MOVQ n8+40(FP), CX

s32:
	CMPQ CX, $4
	JLT s8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ q+8(FP), SI
	MOVQ DX, R11
	MOVQ nq+32(FP), R12

s32d:
	VBROADCASTSS (SI), Y4
	VMULPS (R11), Y4, Y5
	VMULPS 32(R11), Y4, Y6
	VMULPS 64(R11), Y4, Y7
	VMULPS 96(R11), Y4, Y8
	VADDPS Y5, Y0, Y0
	VADDPS Y6, Y1, Y1
	VADDPS Y7, Y2, Y2
	VADDPS Y8, Y3, Y3
	ADDQ $4, SI
	ADDQ R8, R11
	DECQ R12
	JNZ s32d
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, DX
	SUBQ $4, CX
	JMP s32

s8:
	TESTQ CX, CX
	JZ sdone
	VXORPS Y0, Y0, Y0
	MOVQ q+8(FP), SI
	MOVQ DX, R11
	MOVQ nq+32(FP), R12

s8d:
	VBROADCASTSS (SI), Y4
	VMULPS (R11), Y4, Y5
	VADDPS Y5, Y0, Y0
	ADDQ $4, SI
	ADDQ R8, R11
	DECQ R12
	JNZ s8d
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JMP s8

sdone:
	VZEROUPPER
	RET

// func addRowsAVX2(dst, w, v *float32, ld, nw, n8 int)
//
// dst[i] += w[j]·v[j*ld+i] for j = 0..nw-1 in turn, i < 8·n8 (ld in
// bytes): 64 outputs per pass held in eight accumulators while there are,
// then 8.
TEXT ·addRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ v+16(FP), DX
	MOVQ ld+24(FP), R8
	MOVQ n8+40(FP), CX

a64:
	CMPQ CX, $8
	JLT a8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	MOVQ w+8(FP), SI
	MOVQ DX, R11
	MOVQ nw+32(FP), R12

a64j:
	VBROADCASTSS (SI), Y8
	VMULPS (R11), Y8, Y9
	VMULPS 32(R11), Y8, Y10
	VMULPS 64(R11), Y8, Y11
	VMULPS 96(R11), Y8, Y12
	VADDPS Y9, Y0, Y0
	VADDPS Y10, Y1, Y1
	VADDPS Y11, Y2, Y2
	VADDPS Y12, Y3, Y3
	VMULPS 128(R11), Y8, Y9
	VMULPS 160(R11), Y8, Y10
	VMULPS 192(R11), Y8, Y11
	VMULPS 224(R11), Y8, Y12
	VADDPS Y9, Y4, Y4
	VADDPS Y10, Y5, Y5
	VADDPS Y11, Y6, Y6
	VADDPS Y12, Y7, Y7
	ADDQ $4, SI
	ADDQ R8, R11
	DECQ R12
	JNZ a64j
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ $256, DI
	ADDQ $256, DX
	SUBQ $8, CX
	JMP a64

a8:
	TESTQ CX, CX
	JZ adone
	VMOVUPS (DI), Y0
	MOVQ w+8(FP), SI
	MOVQ DX, R11
	MOVQ nw+32(FP), R12

a8j:
	VBROADCASTSS (SI), Y8
	VMULPS (R11), Y8, Y9
	VADDPS Y9, Y0, Y0
	ADDQ $4, SI
	ADDQ R8, R11
	DECQ R12
	JNZ a8j
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JMP a8

adone:
	VZEROUPPER
	RET
