//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// Constants for the scales unpacking (as in q4_k_amd64.s).
DATA z4shrA<>+0(SB)/4, $0
DATA z4shrA<>+4(SB)/4, $0
DATA z4shrA<>+8(SB)/4, $0
DATA z4shrA<>+12(SB)/4, $4
GLOBL z4shrA<>(SB), RODATA|NOPTR, $16
DATA z4maskA<>+0(SB)/4, $0x3f3f3f3f
DATA z4maskA<>+4(SB)/4, $0x0f0f0f0f
DATA z4maskA<>+8(SB)/4, $0x3f3f3f3f
DATA z4maskA<>+12(SB)/4, $0x0f0f0f0f
GLOBL z4maskA<>(SB), RODATA|NOPTR, $16
DATA z4shrB<>+0(SB)/4, $32
DATA z4shrB<>+4(SB)/4, $6
DATA z4shrB<>+8(SB)/4, $32
DATA z4shrB<>+12(SB)/4, $6
GLOBL z4shrB<>(SB), RODATA|NOPTR, $16
DATA z4maskB<>+0(SB)/4, $0x03030303
DATA z4maskB<>+4(SB)/4, $0x03030303
DATA z4maskB<>+8(SB)/4, $0x03030303
DATA z4maskB<>+12(SB)/4, $0x03030303
GLOBL z4maskB<>(SB), RODATA|NOPTR, $16
DATA ziota<>+0(SB)/8, $0x0000000100000000
DATA ziota<>+8(SB)/8, $0x0000000300000002
DATA ziota<>+16(SB)/8, $0x0000000500000004
DATA ziota<>+24(SB)/8, $0x0000000700000006
DATA ziota<>+32(SB)/8, $0x0000000900000008
DATA ziota<>+40(SB)/8, $0x0000000b0000000a
DATA ziota<>+48(SB)/8, $0x0000000d0000000c
DATA ziota<>+56(SB)/8, $0x0000000f0000000e
GLOBL ziota<>(SB), RODATA|NOPTR, $64

// The scale-unpack constants repeated in the four 128-bit lanes of a
// ZMM, for q4_KRowsVNNI, which unpacks four rows' scales at once.
#define ZREP4(name, a, b, c, d) \
	DATA name+0(SB)/4, $a; DATA name+4(SB)/4, $b; DATA name+8(SB)/4, $c; DATA name+12(SB)/4, $d; \
	DATA name+16(SB)/4, $a; DATA name+20(SB)/4, $b; DATA name+24(SB)/4, $c; DATA name+28(SB)/4, $d; \
	DATA name+32(SB)/4, $a; DATA name+36(SB)/4, $b; DATA name+40(SB)/4, $c; DATA name+44(SB)/4, $d; \
	DATA name+48(SB)/4, $a; DATA name+52(SB)/4, $b; DATA name+56(SB)/4, $c; DATA name+60(SB)/4, $d; \
	GLOBL name(SB), RODATA|NOPTR, $64
ZREP4(z4shrA4<>, 0, 0, 0, 4)
ZREP4(z4maskA4<>, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f)
ZREP4(z4shrB4<>, 32, 6, 32, 6)
ZREP4(z4maskB4<>, 0x03030303, 0x03030303, 0x03030303, 0x03030303)

// Q4_K with sixteen positions in the lanes of ZMM registers (see
// q8_0Tile16VNNI). Per super-block and row, sub-block s accumulates in
// Z<s> the products of its unsigned nibbles (each dword of the block's
// qs holds four values of sub-block 2j in its low nibbles and four of
// 2j+1 in its high ones, broadcast to all lanes) with the transposed
// quants; isum = Σ sc_s·Z<s> (VPMULLD by the broadcast scale) and
// msum = Σ mn_s·pairsum_s (VPDPWSSD of int16 pairs) are exact, and the
// lanes do acc += (d·dx)·isum, acc -= (dmin·dx)·msum as finishK4.
//
// Frame: sc-32(SP) holds the eight scales as int32, mn-48(SP) the eight
// mins as int16 (pairs for VPDPWSSD).

// Q4KZ_DWORD: dword at byte OFF of the row's block (SI); its low nibbles
// go with the transposed chunk at TLO(DX) into ZLO, its high nibbles with
// THI(DX) into ZHI. Z29 = 0x0f bytes.
#define Q4KZ_DWORD(OFF, TLO, THI, ZLO, ZHI) \
	VPANDD.BCST OFF(SI), Z29, Z8; \
	VPDPBUSD TLO(DX), Z8, ZLO; \
	VPSRLD.BCST $4, OFF(SI), Z8; \
	VPANDD Z29, Z8, Z8; \
	VPDPBUSD THI(DX), Z8, ZHI

// Q4KZ_STEP: dword k of each of the four 32-byte groups of qs (sub-blocks
// 2j, 2j+1 for j = 0..3), so that the eight accumulator chains advance in
// turn (each VPDPBUSD waits for the previous one on the same register).
#define Q4KZ_STEP(K) \
	Q4KZ_DWORD((16+4*K), (64*K), (512+64*K), Z0, Z1); \
	Q4KZ_DWORD((48+4*K), (1024+64*K), (1536+64*K), Z2, Z3); \
	Q4KZ_DWORD((80+4*K), (2048+64*K), (2560+64*K), Z4, Z5); \
	Q4KZ_DWORD((112+4*K), (3072+64*K), (3584+64*K), Z6, Z7)

// func q4_KTile16VNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)
//
// Q4_K rows × sixteen Q8_K positions, one row per step; t, d16 and k16
// are prepTile16's. Results go to y[p*ystride + r].
TEXT ·q4_KTile16VNNI(SB), NOSPLIT, $48-64
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ nrows+24(FP), R10
	MOVQ ystride+8(FP), AX
	VPBROADCASTD AX, Z30
	VPMULLD ziota<>(SB), Z30, Z30
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z29

zkrow:
	VPXORD Z14, Z14, Z14
	MOVQ t+32(FP), DX
	MOVQ d16+40(FP), R11
	MOVQ k16+48(FP), R12
	MOVQ nb+56(FP), CX

zksb:
	// Scales and mins (scalesK4, on the four dwords at once).
	VMOVDQU 4(SI), X8
	VPSHUFD $0x98, X8, X9
	VPSRLVD z4shrA<>(SB), X9, X9
	VPAND z4maskA<>(SB), X9, X9
	VPSHUFD $0x50, X8, X8
	VPSRLVD z4shrB<>(SB), X8, X8
	VPAND z4maskB<>(SB), X8, X8
	VPSLLD $4, X8, X8
	VPOR X8, X9, X9
	VPMOVZXBD X9, Y8
	VMOVDQU Y8, sc-32(SP)
	VPSRLDQ $8, X9, X9
	VPMOVZXBW X9, X9
	VMOVDQU X9, mn-48(SP)

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	Q4KZ_STEP(0)
	Q4KZ_STEP(1)
	Q4KZ_STEP(2)
	Q4KZ_STEP(3)
	Q4KZ_STEP(4)
	Q4KZ_STEP(5)
	Q4KZ_STEP(6)
	Q4KZ_STEP(7)

	// isum = Σ sc_s · Z<s>
	VPMULLD.BCST sc-32(SP), Z0, Z0
	VPMULLD.BCST sc-28(SP), Z1, Z1
	VPMULLD.BCST sc-24(SP), Z2, Z2
	VPMULLD.BCST sc-20(SP), Z3, Z3
	VPMULLD.BCST sc-16(SP), Z4, Z4
	VPMULLD.BCST sc-12(SP), Z5, Z5
	VPMULLD.BCST sc-8(SP), Z6, Z6
	VPMULLD.BCST sc-4(SP), Z7, Z7
	VPADDD Z1, Z0, Z0
	VPADDD Z3, Z2, Z2
	VPADDD Z5, Z4, Z4
	VPADDD Z7, Z6, Z6
	VPADDD Z2, Z0, Z0
	VPADDD Z6, Z4, Z4
	VPADDD Z4, Z0, Z0

	// msum = Σ mn_s · pairsum_s
	VPXORD Z15, Z15, Z15
	VMOVDQU32 (R12), Z9
	VPDPWSSD.BCST mn-48(SP), Z9, Z15
	VMOVDQU32 64(R12), Z9
	VPDPWSSD.BCST mn-44(SP), Z9, Z15
	VMOVDQU32 128(R12), Z9
	VPDPWSSD.BCST mn-40(SP), Z9, Z15
	VMOVDQU32 192(R12), Z9
	VPDPWSSD.BCST mn-36(SP), Z9, Z15

	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z15, Z15
	VPBROADCASTW (SI), Y10
	VCVTPH2PS Y10, Z10
	VMULPS (R11), Z10, Z10
	VMULPS Z0, Z10, Z10
	VADDPS Z10, Z14, Z14
	VPBROADCASTW 2(SI), Y11
	VCVTPH2PS Y11, Z11
	VMULPS (R11), Z11, Z11
	VMULPS Z15, Z11, Z11
	VSUBPS Z11, Z14, Z14

	ADDQ $144, SI
	ADDQ $4096, DX
	ADDQ $64, R11
	ADDQ $768, R12
	DECQ CX
	JNZ zksb

	KXNORW K1, K1, K1
	VSCATTERDPS Z14, K1, (DI)(Z30*4)
	ADDQ $4, DI
	DECQ R10
	JNZ zkrow
	VZEROUPPER
	RET

// KCOMBINE: see q4_k_amd64.s.
#define KCOMBINE(Y, X, M, T) \
	VEXTRACTI128 $1, Y, T; \
	VPADDD T, X, X; \
	VINSERTI128 $1, M, Y, Y

// Word indices for VPERMW: zidxK<>+64·j selects scale word a_j for the
// low 16 words and b_j for the high 16, with (a_j, b_j) = (0, 2), (1, 3),
// (4, 6), (5, 7): the sub-blocks whose values the low and the high
// nibbles of each 64-byte half of qs hold (see Q4KV_ROW). The second
// 256 bytes are the same plus 16: the words of the odd row of a pair.
#define ZIDX(j, a, b) \
	DATA zidxK<>+(64*j)(SB)/8, $(0x0001000100010001*(a)); \
	DATA zidxK<>+(64*j+8)(SB)/8, $(0x0001000100010001*(a)); \
	DATA zidxK<>+(64*j+16)(SB)/8, $(0x0001000100010001*(a)); \
	DATA zidxK<>+(64*j+24)(SB)/8, $(0x0001000100010001*(a)); \
	DATA zidxK<>+(64*j+32)(SB)/8, $(0x0001000100010001*(b)); \
	DATA zidxK<>+(64*j+40)(SB)/8, $(0x0001000100010001*(b)); \
	DATA zidxK<>+(64*j+48)(SB)/8, $(0x0001000100010001*(b)); \
	DATA zidxK<>+(64*j+56)(SB)/8, $(0x0001000100010001*(b))
ZIDX(0, 0, 2)
ZIDX(1, 1, 3)
ZIDX(2, 4, 6)
ZIDX(3, 5, 7)
ZIDX(4, 16, 18)
ZIDX(5, 17, 19)
ZIDX(6, 20, 22)
ZIDX(7, 21, 23)
GLOBL zidxK<>(SB), RODATA|NOPTR, $512

// Q4KV_SCALES4 reads the first 16 bytes of the four rows' super-blocks
// (d, dmin, then the 12 bytes of 6-bit scales and mins), row r in 128-bit
// lane r, and unpacks the scales as Q4K_SCALES does (scalesK4's steps)
// into Z29: lane r holds row r's eight scales, then its eight mins, as
// bytes. Y30 gets the rows' d and dmin as floats, [d0..d3 | dmin0..dmin3]
// (VPERMW gathers the f16 words, Z31 its indices).
#define Q4KV_SCALES4 \
	VMOVDQU (BX), X8; \
	VINSERTI32X4 $1, (BX)(R8*1), Z8, Z8; \
	VINSERTI32X4 $2, (BX)(R8*2), Z8, Z8; \
	VINSERTI32X4 $3, (BX)(R9*1), Z8, Z8; \
	VPERMW Z8, Z31, Z30; \
	VCVTPH2PS X30, Y30; \
	VPSHUFD $0xed, Z8, Z29; \
	VPSRLVD z4shrA4<>(SB), Z29, Z29; \
	VPANDD z4maskA4<>(SB), Z29, Z29; \
	VPSHUFD $0xa5, Z8, Z8; \
	VPSRLVD z4shrB4<>(SB), Z8, Z8; \
	VPANDD z4maskB4<>(SB), Z8, Z8; \
	VPSLLD $4, Z8, Z8; \
	VPORD Z8, Z29, Z29

// zidxD<>: VPERMW indices of the four rows' d (words 0, 8, 16, 24) and
// dmin (1, 9, 17, 25) in Q4KV_SCALES4's Z8.
DATA zidxD<>+0(SB)/8, $0x0018001000080000
DATA zidxD<>+8(SB)/8, $0x0019001100090001
DATA zidxD<>+16(SB)/8, $0
DATA zidxD<>+24(SB)/8, $0
DATA zidxD<>+32(SB)/8, $0
DATA zidxD<>+40(SB)/8, $0
DATA zidxD<>+48(SB)/8, $0
DATA zidxD<>+56(SB)/8, $0
GLOBL zidxD<>(SB), RODATA|NOPTR, $64

// Q4KV_ROW accumulates into IZ (zeroed first; 16 int32 lanes) the scaled
// products of one Q4_K super-block of the row at AX with the quants at DX
// (laid out by packK16Z). The 128 bytes of nibbles are loaded as two ZMM;
// the low nibbles of the first hold sub-blocks 0 and 2, the high ones 1
// and 3 (then 4, 6 and 5, 7), which is the order packK16Z gives the
// quants. VPMADDUBSW multiplies them (int16 pairs, no saturation) and
// VPDPWSSD multiplies by the sub-blocks' scales, spread over the two
// halves by VPERMW from the scale words SW with indices I0..I3, and adds.
#define Q4KV_PART(Q, AOFF, SW, IDX, IZ) \
	VPMADDUBSW AOFF(DX), Q, Q; \
	VPERMW SW, IDX, Z8; \
	VPDPWSSD Z8, Q, IZ

#define Q4KV_ROW(SW, I0, I1, I2, I3, IZ) \
	VMOVDQU64 16(AX), Z10; \
	VMOVDQU64 80(AX), Z11; \
	VPSRLW $4, Z10, Z12; \
	VPSRLW $4, Z11, Z13; \
	VPANDD Z28, Z10, Z10; \
	VPANDD Z28, Z11, Z11; \
	VPANDD Z28, Z12, Z12; \
	VPANDD Z28, Z13, Z13; \
	VPXORD IZ, IZ, IZ; \
	Q4KV_PART(Z10, 0, SW, I0, IZ); \
	Q4KV_PART(Z12, 64, SW, I1, IZ); \
	Q4KV_PART(Z11, 128, SW, I2, IZ); \
	Q4KV_PART(Z13, 192, SW, I3, IZ)

// ZMERGE2 and ZMERGE4 are MERGE2 and MERGE4 on ZMM registers (four
// 128-bit lanes; K2 = 0xaaaa, K3 = 0xcccc select the blended lanes).
#define ZMERGE2(A, B, T, U) \
	VPBLENDMD B, A, K2, T; \
	VPBLENDMD A, B, K2, U; \
	VPSHUFD $0xb1, U, U; \
	VPADDD U, T, A

#define ZMERGE4(A, C, T, U) \
	VPBLENDMD C, A, K3, T; \
	VPBLENDMD A, C, K3, U; \
	VPSHUFD $0x4e, U, U; \
	VPADDD U, T, A

// func q4_KRowsVNNI(y *float32, w *byte, rowBytes, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// q4_KRowsAVX2 with AVX-512: the same integer sums and float steps. Per
// super-block, the four rows' scales are unpacked together
// (Q4KV_SCALES4) and widened to words two rows per ZMM (Z16, Z17); the
// mins' sums go through VPMADDWD with the activation's pair sums and
// REDUCE-style merges into [m0..m3]; each row's scaled products
// (Q4KV_ROW, 64 bytes at a time) accumulate in their own ZMM and the
// four are merged into [i0..i3]. q is the activation's quants in
// packK16Z order. X14 is the float accumulator, as there.
TEXT ·q4_KRowsVNNI(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rowBytes+16(FP), R8
	MOVQ nrows+24(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z28
	MOVL $0xaaaa, AX
	KMOVW AX, K2
	MOVL $0xcccc, AX
	KMOVW AX, K3
	VMOVDQU64 zidxK<>+0(SB), Z24
	VMOVDQU64 zidxK<>+64(SB), Z25
	VMOVDQU64 zidxK<>+128(SB), Z26
	VMOVDQU64 zidxK<>+192(SB), Z27
	VMOVDQU64 zidxK<>+256(SB), Z20
	VMOVDQU64 zidxK<>+320(SB), Z21
	VMOVDQU64 zidxK<>+384(SB), Z22
	VMOVDQU64 zidxK<>+448(SB), Z23
	VMOVDQU64 zidxD<>(SB), Z31

vkgroup:
	VXORPS X14, X14, X14
	MOVQ SI, BX
	MOVQ q+32(FP), DX
	MOVQ d+40(FP), R12
	MOVQ ks+48(FP), R13
	MOVQ nb+56(FP), CX

vksb:
	PREFETCH_NEXT4_144

	Q4KV_SCALES4
	VPMOVZXBW Y29, Z16
	VEXTRACTI64X4 $1, Z29, Y17
	VPMOVZXBW Y17, Z17

	// mins: row r's eight min words times the pair sums
	VEXTRACTI32X4 $1, Z16, X4
	VPMADDWD 32(R13), X4, X4
	VEXTRACTI32X4 $3, Z16, X5
	VPMADDWD 32(R13), X5, X5
	VEXTRACTI32X4 $1, Z17, X6
	VPMADDWD 32(R13), X6, X6
	VEXTRACTI32X4 $3, Z17, X7
	VPMADDWD 32(R13), X7, X7
	MERGE2(X4, X5, X8, X9)
	MERGE2(X6, X7, X8, X9)
	MERGE4(X4, X6, X8, X9)

	MOVQ BX, AX
	Q4KV_ROW(Z16, Z24, Z25, Z26, Z27, Z0)
	LEAQ (BX)(R8*1), AX
	Q4KV_ROW(Z16, Z20, Z21, Z22, Z23, Z1)
	LEAQ (BX)(R8*2), AX
	Q4KV_ROW(Z17, Z24, Z25, Z26, Z27, Z2)
	LEAQ (BX)(R9*1), AX
	Q4KV_ROW(Z17, Z20, Z21, Z22, Z23, Z3)
	ZMERGE2(Z0, Z1, Z8, Z9)
	ZMERGE2(Z2, Z3, Z8, Z9)
	ZMERGE4(Z0, Z2, Z8, Z9)
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VINSERTI128 $1, X4, Y0, Y0
	VCVTDQ2PS Y0, Y0

	VBROADCASTSS (R12), Y2
	VMULPS Y2, Y30, Y1
	VMULPS Y0, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VADDPS X1, X14, X14
	VSUBPS X2, X14, X14

	ADDQ $144, BX
	ADDQ $256, DX
	ADDQ $4, R12
	ADDQ $64, R13
	DECQ CX
	JNZ vksb

	VMOVUPS X14, (DI)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	SUBQ $4, R10
	JA vkgroup
	VZEROUPPER
	RET

// func q5_KTile16VNNI(y *float32, ystride int, w *byte, nrows int, t *int8, d16 *float32, k16 *int16, nb int)
//
// Q5_K rows × sixteen Q8_K positions, one row per step (see
// q4_KTile16VNNI): the fifth bit of each value, bit s of its qh byte, is
// shifted to bit 4 and merged in by VPTERNLOGD $0xf8 (a | b&c, c = 0x10
// bytes in Z28). t, d16 and k16 are prepTile16's. Results go to y[p*ystride + r].
TEXT ·q5_KTile16VNNI(SB), NOSPLIT, $48-64
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ nrows+24(FP), R10
	MOVQ ystride+8(FP), AX
	VPBROADCASTD AX, Z30
	VPMULLD ziota<>(SB), Z30, Z30
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z29
	MOVL $0x10101010, AX
	VPBROADCASTD AX, Z28

z5row:
	VPXORD Z14, Z14, Z14
	MOVQ t+32(FP), DX
	MOVQ d16+40(FP), R11
	MOVQ k16+48(FP), R12
	MOVQ nb+56(FP), CX

z5sb:
	// Scales and mins (scalesK4, on the four dwords at once).
	VMOVDQU 4(SI), X8
	VPSHUFD $0x98, X8, X9
	VPSRLVD z4shrA<>(SB), X9, X9
	VPAND z4maskA<>(SB), X9, X9
	VPSHUFD $0x50, X8, X8
	VPSRLVD z4shrB<>(SB), X8, X8
	VPAND z4maskB<>(SB), X8, X8
	VPSLLD $4, X8, X8
	VPOR X8, X9, X9
	VPMOVZXBD X9, Y8
	VMOVDQU Y8, sc-32(SP)
	VPSRLDQ $8, X9, X9
	VPMOVZXBW X9, X9
	VMOVDQU X9, mn-48(SP)

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	// dword 0: values 0..3 of each sub-block
	VPBROADCASTD 16(SI), Z9
	VPANDD.BCST 48(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 0(DX), Z8, Z0
	VPSRLD.BCST $4, 48(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 512(DX), Z8, Z1
	VPANDD.BCST 80(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1024(DX), Z8, Z2
	VPSRLD.BCST $4, 80(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1536(DX), Z8, Z3
	VPANDD.BCST 112(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2048(DX), Z8, Z4
	VPSRLD.BCST $4, 112(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 2560(DX), Z8, Z5
	VPANDD.BCST 144(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3072(DX), Z8, Z6
	VPSRLD.BCST $4, 144(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3584(DX), Z8, Z7
	// dword 1: values 4..7 of each sub-block
	VPBROADCASTD 20(SI), Z9
	VPANDD.BCST 52(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 64(DX), Z8, Z0
	VPSRLD.BCST $4, 52(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 576(DX), Z8, Z1
	VPANDD.BCST 84(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1088(DX), Z8, Z2
	VPSRLD.BCST $4, 84(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1600(DX), Z8, Z3
	VPANDD.BCST 116(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2112(DX), Z8, Z4
	VPSRLD.BCST $4, 116(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 2624(DX), Z8, Z5
	VPANDD.BCST 148(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3136(DX), Z8, Z6
	VPSRLD.BCST $4, 148(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3648(DX), Z8, Z7
	// dword 2: values 8..11 of each sub-block
	VPBROADCASTD 24(SI), Z9
	VPANDD.BCST 56(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 128(DX), Z8, Z0
	VPSRLD.BCST $4, 56(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 640(DX), Z8, Z1
	VPANDD.BCST 88(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1152(DX), Z8, Z2
	VPSRLD.BCST $4, 88(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1664(DX), Z8, Z3
	VPANDD.BCST 120(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2176(DX), Z8, Z4
	VPSRLD.BCST $4, 120(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 2688(DX), Z8, Z5
	VPANDD.BCST 152(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3200(DX), Z8, Z6
	VPSRLD.BCST $4, 152(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3712(DX), Z8, Z7
	// dword 3: values 12..15 of each sub-block
	VPBROADCASTD 28(SI), Z9
	VPANDD.BCST 60(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 192(DX), Z8, Z0
	VPSRLD.BCST $4, 60(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 704(DX), Z8, Z1
	VPANDD.BCST 92(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1216(DX), Z8, Z2
	VPSRLD.BCST $4, 92(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1728(DX), Z8, Z3
	VPANDD.BCST 124(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2240(DX), Z8, Z4
	VPSRLD.BCST $4, 124(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 2752(DX), Z8, Z5
	VPANDD.BCST 156(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3264(DX), Z8, Z6
	VPSRLD.BCST $4, 156(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3776(DX), Z8, Z7
	// dword 4: values 16..19 of each sub-block
	VPBROADCASTD 32(SI), Z9
	VPANDD.BCST 64(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 256(DX), Z8, Z0
	VPSRLD.BCST $4, 64(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 768(DX), Z8, Z1
	VPANDD.BCST 96(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1280(DX), Z8, Z2
	VPSRLD.BCST $4, 96(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1792(DX), Z8, Z3
	VPANDD.BCST 128(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2304(DX), Z8, Z4
	VPSRLD.BCST $4, 128(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 2816(DX), Z8, Z5
	VPANDD.BCST 160(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3328(DX), Z8, Z6
	VPSRLD.BCST $4, 160(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3840(DX), Z8, Z7
	// dword 5: values 20..23 of each sub-block
	VPBROADCASTD 36(SI), Z9
	VPANDD.BCST 68(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 320(DX), Z8, Z0
	VPSRLD.BCST $4, 68(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 832(DX), Z8, Z1
	VPANDD.BCST 100(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1344(DX), Z8, Z2
	VPSRLD.BCST $4, 100(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1856(DX), Z8, Z3
	VPANDD.BCST 132(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2368(DX), Z8, Z4
	VPSRLD.BCST $4, 132(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 2880(DX), Z8, Z5
	VPANDD.BCST 164(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3392(DX), Z8, Z6
	VPSRLD.BCST $4, 164(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3904(DX), Z8, Z7
	// dword 6: values 24..27 of each sub-block
	VPBROADCASTD 40(SI), Z9
	VPANDD.BCST 72(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 384(DX), Z8, Z0
	VPSRLD.BCST $4, 72(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 896(DX), Z8, Z1
	VPANDD.BCST 104(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1408(DX), Z8, Z2
	VPSRLD.BCST $4, 104(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1920(DX), Z8, Z3
	VPANDD.BCST 136(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2432(DX), Z8, Z4
	VPSRLD.BCST $4, 136(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 2944(DX), Z8, Z5
	VPANDD.BCST 168(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3456(DX), Z8, Z6
	VPSRLD.BCST $4, 168(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3968(DX), Z8, Z7
	// dword 7: values 28..31 of each sub-block
	VPBROADCASTD 44(SI), Z9
	VPANDD.BCST 76(SI), Z29, Z8
	VPSLLD $4, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 448(DX), Z8, Z0
	VPSRLD.BCST $4, 76(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 960(DX), Z8, Z1
	VPANDD.BCST 108(SI), Z29, Z8
	VPSLLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1472(DX), Z8, Z2
	VPSRLD.BCST $4, 108(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSLLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 1984(DX), Z8, Z3
	VPANDD.BCST 140(SI), Z29, Z8
	VPTERNLOGD $0xf8, Z28, Z9, Z8
	VPDPBUSD 2496(DX), Z8, Z4
	VPSRLD.BCST $4, 140(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $1, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3008(DX), Z8, Z5
	VPANDD.BCST 172(SI), Z29, Z8
	VPSRLD $2, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 3520(DX), Z8, Z6
	VPSRLD.BCST $4, 172(SI), Z8
	VPANDD Z29, Z8, Z8
	VPSRLD $3, Z9, Z10
	VPTERNLOGD $0xf8, Z28, Z10, Z8
	VPDPBUSD 4032(DX), Z8, Z7

	// isum = Σ sc_s · Z<s>
	VPMULLD.BCST sc-32(SP), Z0, Z0
	VPMULLD.BCST sc-28(SP), Z1, Z1
	VPMULLD.BCST sc-24(SP), Z2, Z2
	VPMULLD.BCST sc-20(SP), Z3, Z3
	VPMULLD.BCST sc-16(SP), Z4, Z4
	VPMULLD.BCST sc-12(SP), Z5, Z5
	VPMULLD.BCST sc-8(SP), Z6, Z6
	VPMULLD.BCST sc-4(SP), Z7, Z7
	VPADDD Z1, Z0, Z0
	VPADDD Z3, Z2, Z2
	VPADDD Z5, Z4, Z4
	VPADDD Z7, Z6, Z6
	VPADDD Z2, Z0, Z0
	VPADDD Z6, Z4, Z4
	VPADDD Z4, Z0, Z0

	// msum = Σ mn_s · pairsum_s
	VPXORD Z15, Z15, Z15
	VMOVDQU32 (R12), Z9
	VPDPWSSD.BCST mn-48(SP), Z9, Z15
	VMOVDQU32 64(R12), Z9
	VPDPWSSD.BCST mn-44(SP), Z9, Z15
	VMOVDQU32 128(R12), Z9
	VPDPWSSD.BCST mn-40(SP), Z9, Z15
	VMOVDQU32 192(R12), Z9
	VPDPWSSD.BCST mn-36(SP), Z9, Z15

	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z15, Z15
	VPBROADCASTW (SI), Y10
	VCVTPH2PS Y10, Z10
	VMULPS (R11), Z10, Z10
	VMULPS Z0, Z10, Z10
	VADDPS Z10, Z14, Z14
	VPBROADCASTW 2(SI), Y11
	VCVTPH2PS Y11, Z11
	VMULPS (R11), Z11, Z11
	VMULPS Z15, Z11, Z11
	VSUBPS Z11, Z14, Z14

	ADDQ $176, SI
	ADDQ $4096, DX
	ADDQ $64, R11
	ADDQ $768, R12
	DECQ CX
	JNZ z5sb

	KXNORW K1, K1, K1
	VSCATTERDPS Z14, K1, (DI)(Z30*4)
	ADDQ $4, DI
	DECQ R10
	JNZ z5row
	VZEROUPPER
	RET
