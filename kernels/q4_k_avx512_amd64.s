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
// Q4_K rows of nb super-blocks, stored one after the other, × sixteen
// Q8_K positions, one row per step; t, d16 and k16 are prepTile16's.
// Results go to y[p*ystride + r].
TEXT ·q4_KTile16VNNI(SB), NOSPLIT, $48-64
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), BX
	MOVQ nb+56(FP), R8
	IMULQ $144, R8
	MOVQ R8, R13
	SHLQ $2, R13
	MOVQ nrows+24(FP), R10
	MOVQ ystride+8(FP), AX
	VPBROADCASTD AX, Z30
	VPMULLD ziota<>(SB), Z30, Z30
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z29

zkrow:
	MOVQ BX, SI
	VPXORD Z14, Z14, Z14
	MOVQ t+32(FP), DX
	MOVQ d16+40(FP), R11
	MOVQ k16+48(FP), R12
	MOVQ nb+56(FP), CX

zksb:
	// The same super-block four rows on (R13 = 4·rowBytes),
	// which the first group of positions reads from memory.
	PREFETCHT0 (SI)(R13*1)
	PREFETCHT0 64(SI)(R13*1)
	PREFETCHT0 128(SI)(R13*1)

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
	ADDQ R8, BX
	DECQ R10
	JNZ zkrow
	VZEROUPPER
	RET

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

// Q4KV_SCALES4 reads the first 16 bytes of the four rows' super-blocks
// (d, dmin, then the 12 bytes of 6-bit scales and mins), row r in 128-bit
// lane r, and unpacks the scales as Q4K_SCALES does (scalesK4's steps)
// into Z29: lane r holds row r's eight scales, then its eight mins, as
// bytes. Y9 gets the rows' d and dmin as floats, [d0..d3 | dmin0..dmin3]
// (VPERMW gathers the f16 words, Z30 its indices).
#define Q4KV_SCALES4 \
	VMOVDQU (BX), X8; \
	VINSERTI32X4 $1, (BX)(R8*1), Z8, Z8; \
	VINSERTI32X4 $2, (BX)(R8*2), Z8, Z8; \
	VINSERTI32X4 $3, (BX)(R9*1), Z8, Z8; \
	VPERMW Z8, Z30, Z9; \
	VCVTPH2PS X9, Y9; \
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

// VPERMW indices into the scales and mins of Q4KV_SCALES4's Z29 widened
// to words: Z6 = rows 0 and 1, Z7 = rows 2 and 3, row r's scale j at word
// 16(r mod 2)+j of its register, its min j at 16(r mod 2)+8+j.
//
// zidxW<>+64·v, v = 0, 1: the scale words a row pair's packed sums are
// multiplied by (see Q4KW_PAIR): word 8L+w of 128-bit lane L is the scale
// of sub-block 2L+v of the pair's first row for w < 4, of its second row
// for w ≥ 4.
DATA zidxW<>+0(SB)/8, $0x0000000000000000
DATA zidxW<>+8(SB)/8, $0x0010001000100010
DATA zidxW<>+16(SB)/8, $0x0002000200020002
DATA zidxW<>+24(SB)/8, $0x0012001200120012
DATA zidxW<>+32(SB)/8, $0x0004000400040004
DATA zidxW<>+40(SB)/8, $0x0014001400140014
DATA zidxW<>+48(SB)/8, $0x0006000600060006
DATA zidxW<>+56(SB)/8, $0x0016001600160016
DATA zidxW<>+64(SB)/8, $0x0001000100010001
DATA zidxW<>+72(SB)/8, $0x0011001100110011
DATA zidxW<>+80(SB)/8, $0x0003000300030003
DATA zidxW<>+88(SB)/8, $0x0013001300130013
DATA zidxW<>+96(SB)/8, $0x0005000500050005
DATA zidxW<>+104(SB)/8, $0x0015001500150015
DATA zidxW<>+112(SB)/8, $0x0007000700070007
DATA zidxW<>+120(SB)/8, $0x0017001700170017
GLOBL zidxW<>(SB), RODATA|NOPTR, $128

// zidxM<>: VPERMI2W indices (Z6 then Z7) of the four rows' mins, lane L
// holding the pair of sub-blocks 2L, 2L+1 of rows 0..3 in turn (word
// 8L+2r+h: min 2L+h of row r), so that VPMADDWD with the pair sums gives
// lane L = [r0..r3].
DATA zidxM<>+0(SB)/8, $0x0019001800090008
DATA zidxM<>+8(SB)/8, $0x0039003800290028
DATA zidxM<>+16(SB)/8, $0x001b001a000b000a
DATA zidxM<>+24(SB)/8, $0x003b003a002b002a
DATA zidxM<>+32(SB)/8, $0x001d001c000d000c
DATA zidxM<>+40(SB)/8, $0x003d003c002d002c
DATA zidxM<>+48(SB)/8, $0x001f001e000f000e
DATA zidxM<>+56(SB)/8, $0x003f003e002f002e
GLOBL zidxM<>(SB), RODATA|NOPTR, $64

// zidxP<>: VPERMD indices spreading dword L of the activation's pair
// sums (sub-blocks 2L, 2L+1 as int16) over 128-bit lane L.
DATA zidxP<>+0(SB)/8, $0x0000000000000000
DATA zidxP<>+8(SB)/8, $0x0000000000000000
DATA zidxP<>+16(SB)/8, $0x0000000100000001
DATA zidxP<>+24(SB)/8, $0x0000000100000001
DATA zidxP<>+32(SB)/8, $0x0000000200000002
DATA zidxP<>+40(SB)/8, $0x0000000200000002
DATA zidxP<>+48(SB)/8, $0x0000000300000003
DATA zidxP<>+56(SB)/8, $0x0000000300000003
GLOBL zidxP<>(SB), RODATA|NOPTR, $64

// Q4KW_ROW computes one row's super-block products with the
// activation's quants in Z0..Z3 (packK16Z order) into LO and HI, 16 int32
// lanes each: lane 4L+k of LO sums products of sub-block 2L, of HI of
// sub-block 2L+1. The 128 bytes of qs are loaded 32 bytes at a time (Q0,
// Q0H, Q1, Q1H) into two 64-byte registers: on the reference VM (AMD
// EPYC, Zen 5) a stream of 32-byte loads from memory runs faster than
// one of 64-byte loads, and without the prefetches of interleaved rows
// the inserts cost less than they gain end to end (BENCHMARKS.md,
// "Where decode's time goes"). They are regrouped by 16-byte quarters
// so that 128-bit lane L of both holds the 32 bytes of qs that carry
// sub-blocks 2L (low nibbles) and 2L+1 (high nibbles); then each
// VPDPBUSD pair adds into one accumulator per sub-block set.
// The high nibbles are used in place (bytes & 0xf0, 16 times their
// value), and HI's exact multiples of 16 are shifted back. Each lane is
// then a sum of 8 products of a nibble (0..15) and a quant (-128..127),
// so it fits in int16 (|x| ≤ 15360) for Q4KW_PAIR's VPACKSSDW.
#define Q4KW_ROW(Q0, Q0H, Q1, Q1H, LO, HI) \
	VMOVDQU Q0, Y12; \
	VINSERTI64X4 $1, Q0H, Z12, Z12; \
	VMOVDQU Q1, Y13; \
	VINSERTI64X4 $1, Q1H, Z13, Z13; \
	VSHUFI64X2 $0x88, Z13, Z12, Z14; \
	VSHUFI64X2 $0xdd, Z13, Z12, Z15; \
	VPANDD Z31, Z14, Z16; \
	VPANDD Z31, Z15, Z17; \
	VPANDND Z14, Z31, Z14; \
	VPANDND Z15, Z31, Z15; \
	VPXORD LO, LO, LO; \
	VPDPBUSD Z0, Z16, LO; \
	VPDPBUSD Z1, Z17, LO; \
	VPXORD HI, HI, HI; \
	VPDPBUSD Z2, Z14, HI; \
	VPDPBUSD Z3, Z15, HI; \
	VPSRAD $4, HI, HI

// Q4KW_PAIR multiplies two rows' (A, B) sub-block sums from Q4KW_ROW by
// their scales and adds them into ACC: VPACKSSDW puts A's and B's lanes
// of one 128-bit lane side by side as words, all of one sub-block per row
// (exact, see Q4KW_ROW), and VPDPWSSD multiplies each pair of words by
// the sub-block's scale (VPERMW from the pair's scale words SW) and
// adds. Lane L of ACC gets [A A B B] partial isums.
#define Q4KW_PAIR(LOA, HIA, LOB, HIB, SW, ACC) \
	VPXORD ACC, ACC, ACC; \
	VPACKSSDW LOB, LOA, Z12; \
	VPERMW SW, Z20, Z13; \
	VPDPWSSD Z13, Z12, ACC; \
	VPACKSSDW HIB, HIA, Z14; \
	VPERMW SW, Z21, Z15; \
	VPDPWSSD Z15, Z14, ACC

// func q4_KRowsVNNI(y *float32, w *byte, nrows int, q *int8, d *float32, ks *int16, nb int)
//
// Rows of nb super-blocks stored one after the other, four at a time
// (nrows a multiple of 4).
//
// q4_KRowsAVX2 with AVX-512: the same integer sums and float steps. Per
// super-block, the activation's quants (packK16Z order) are loaded once
// for the four rows, the four rows' scales are unpacked together
// (Q4KV_SCALES4), each row's products are summed per sub-block in int32
// lanes by VPDPBUSD (Q4KW_ROW) and scaled two rows at a time by VPDPWSSD
// (Q4KW_PAIR); the mins' sums are one VPMADDWD of the four rows' mins
// with the pair sums. A few shuffles and adds reduce all of it to
// [isum r0..r3 | msum r0..r3], which is converted, multiplied by
// [d·dx | dmin·dx] per row, and each row's lane of the accumulator X28
// does acc += t_isum, then acc -= t_msum (finishK4).
TEXT ·q4_KRowsVNNI(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ nb+48(FP), R8
	IMULQ $144, R8
	MOVQ nrows+16(FP), R10
	MOVQ R8, R11
	SHLQ $2, R11
	LEAQ (R8)(R8*2), R9
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	VMOVDQU64 zidxD<>(SB), Z30
	VMOVDQU64 zidxW<>+0(SB), Z20
	VMOVDQU64 zidxW<>+64(SB), Z21
	VMOVDQU64 zidxP<>(SB), Z25

vkgroup:
	VPXORD X28, X28, X28
	MOVQ SI, BX
	MOVQ q+24(FP), DX
	MOVQ d+32(FP), R12
	MOVQ ks+40(FP), R13
	MOVQ nb+48(FP), CX

vksb:
	// The four rows are four streams: prefetch the same super-block of
	// the next group (R11 = 4·rowBytes). Rows of one super-block are
	// one run, which the hardware prefetchers follow on their own.
	CMPQ R8, $144
	JEQ vkfetched
	LEAQ (BX)(R11*1), AX
	PREFETCH4_144

vkfetched:

	VMOVDQU64 (DX), Z0
	VMOVDQU64 64(DX), Z1
	VMOVDQU64 128(DX), Z2
	VMOVDQU64 192(DX), Z3
	Q4KV_SCALES4

	VPMOVZXBW Y29, Z6
	VEXTRACTI64X4 $1, Z29, Y7
	VPMOVZXBW Y7, Z7

	// msum partials: lane L = [r0..r3] for sub-blocks 2L, 2L+1
	VMOVDQU64 zidxM<>(SB), Z10
	VPERMI2W Z7, Z6, Z10
	VMOVDQU 32(R13), X11
	VPERMD Z11, Z25, Z11
	VPMADDWD Z11, Z10, Z10

	Q4KW_ROW(16(BX), 48(BX), 80(BX), 112(BX), Z18, Z19)
	Q4KW_ROW(16(BX)(R8*1), 48(BX)(R8*1), 80(BX)(R8*1), 112(BX)(R8*1), Z26, Z27)
	Q4KW_PAIR(Z18, Z19, Z26, Z27, Z6, Z4)
	Q4KW_ROW(16(BX)(R8*2), 48(BX)(R8*2), 80(BX)(R8*2), 112(BX)(R8*2), Z18, Z19)
	Q4KW_ROW(16(BX)(R9*1), 48(BX)(R9*1), 80(BX)(R9*1), 112(BX)(R9*1), Z26, Z27)
	Q4KW_PAIR(Z18, Z19, Z26, Z27, Z7, Z5)

	// Lane L of Z4 = [r0 r0 r1 r1], of Z5 = [r2 r2 r3 r3]: Z6 = lane L's
	// [r0..r3]; then the lanes of Z6 and Z10 are added up into
	// Y11 = [isum r0..r3 | msum r0..r3].
	VSHUFPS $0x88, Z5, Z4, Z6
	VSHUFPS $0xdd, Z5, Z4, Z7
	VPADDD Z7, Z6, Z6
	VSHUFI64X2 $0x88, Z10, Z6, Z11
	VSHUFI64X2 $0xdd, Z10, Z6, Z12
	VPADDD Z12, Z11, Z11
	VSHUFI64X2 $0x88, Z11, Z11, Z12
	VSHUFI64X2 $0xdd, Z11, Z11, Z13
	VPADDD Z13, Z12, Z11
	VCVTDQ2PS Y11, Y11

	VBROADCASTSS (R12), Y2
	VMULPS Y2, Y9, Y1
	VMULPS Y11, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VADDPS X1, X28, X28
	VSUBPS X2, X28, X28

	ADDQ $144, BX
	ADDQ $256, DX
	ADDQ $4, R12
	ADDQ $64, R13
	DECQ CX
	JNZ vksb

	VMOVUPS X28, (DI)
	ADDQ $16, DI
	ADDQ R11, SI
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

// Q4_K rows in the 32-bit lanes of ZMM registers, sixteen at a time, for
// the ilQ4KLanes layout (layout.go): lane r of every register is row r of
// the group, so each VPDPBUSD multiplies four nibbles of all sixteen rows
// with four of the activation's quants (broadcast), and no horizontal
// reduction is left. Z0..Z7 hold the sums of sub-blocks 0..7, Z20 isum and
// Z21 msum (exact int32, as the generic code's), Z26 each row's float sum
// (acc += (d·dx)·isum, acc -= (dmin·dx)·msum: the generic order).
//
// The 36 lines of a super-block run are read in order, each prefetched
// (PREFETCHT0) two runs ahead: without it this kernel streams at half the
// read rate on the reference VM, with it at or above the plain read loop
// (BENCHMARKS.md, "rows in the lanes of the registers"). Each line is
// loaded 32 bytes at a time, which streams better there than one 64-byte
// load.

#define Q4KL_STEP(J, K, LO, HI) \
	PREFETCHT0 (4608+(4*K+J)*64)(SI); \
	VMOVDQU ((4*K+J)*64)(SI), Y8; \
	VINSERTI64X4 $1, ((4*K+J)*64+32)(SI), Z8, Z8; \
	VPSRLD $4, Z8, Z9; \
	VPANDD Z31, Z8, Z8; \
	VPANDD Z31, Z9, Z9; \
	VPDPBUSD.BCST (64*J+4*K)(DX), Z8, LO; \
	VPDPBUSD.BCST (64*J+32+4*K)(DX), Z9, HI

// Q4KL_KSTEP: dword K of the four nibble chunks; the eight accumulators
// advance in turn.
#define Q4KL_KSTEP(K) \
	Q4KL_STEP(0, K, Z0, Z1); \
	Q4KL_STEP(1, K, Z2, Z3); \
	Q4KL_STEP(2, K, Z4, Z5); \
	Q4KL_STEP(3, K, Z6, Z7)

// Q4KL_MIN adds mn_S (lanes of Z11) times the activation's sum of
// sub-block S (int16 at 2S(R12)) to msum.
#define Q4KL_MIN(S) \
	MOVWLSX (2*S)(R12), AX; \
	VPBROADCASTD AX, Z15; \
	VPMULLD Z15, Z11, Z11; \
	VPADDD Z11, Z21, Z21

// Q4KL_LOW: sub-block S < 4, whose scale is byte S & 63 and min byte
// S+4 & 63 (scale byte i of the sixteen rows at 2048+16i).
#define Q4KL_LOW(S, A) \
	VPMOVZXBD (2048+16*S)(SI), Z10; \
	VPANDD Z30, Z10, Z10; \
	VPMULLD Z10, A, A; \
	VPADDD A, Z20, Z20; \
	VPMOVZXBD (2048+16*(S+4))(SI), Z11; \
	VPANDD Z30, Z11, Z11; \
	Q4KL_MIN(S)

// Q4KL_HIGH: sub-block S >= 4: scale (byte S+4 & 15) | (byte S-4 >> 6) << 4,
// min (byte S+4 >> 4) | (byte S >> 6) << 4.
#define Q4KL_HIGH(S, A) \
	VPMOVZXBD (2048+16*(S+4))(SI), Z12; \
	VPMOVZXBD (2048+16*(S-4))(SI), Z13; \
	VPANDD Z29, Z12, Z10; \
	VPSRLD $6, Z13, Z13; \
	VPSLLD $4, Z13, Z13; \
	VPORD Z13, Z10, Z10; \
	VPMULLD Z10, A, A; \
	VPADDD A, Z20, Z20; \
	VPSRLD $4, Z12, Z11; \
	VPMOVZXBD (2048+16*S)(SI), Z14; \
	VPSRLD $6, Z14, Z14; \
	VPSLLD $4, Z14, Z14; \
	VPORD Z14, Z11, Z11; \
	Q4KL_MIN(S)

// func q4_KLanesVNNI(y *float32, w *byte, ngroups int, q *int8, d *float32, ks *int16, nb int)
//
// ngroups groups of sixteen rows of nb super-blocks (ngroups·nb runs of
// 2304 bytes at w); q, d are the activation's quants and scales, ks its
// sums of 32-value sub-blocks (actVec.ks from index 16, 32 int16 per
// super-block). Row r of group g goes to y[16g+r].
TEXT ·q4_KLanesVNNI(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ ngroups+16(FP), R10
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	MOVL $63, AX
	VPBROADCASTD AX, Z30
	MOVL $15, AX
	VPBROADCASTD AX, Z29

klgroup:
	VPXORD Z26, Z26, Z26
	MOVQ q+24(FP), DX
	MOVQ d+32(FP), R11
	MOVQ ks+40(FP), R12
	MOVQ nb+48(FP), CX

klsb:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	Q4KL_KSTEP(0)
	Q4KL_KSTEP(1)
	Q4KL_KSTEP(2)
	Q4KL_KSTEP(3)
	Q4KL_KSTEP(4)
	Q4KL_KSTEP(5)
	Q4KL_KSTEP(6)
	Q4KL_KSTEP(7)
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	Q4KL_LOW(0, Z0)
	Q4KL_LOW(1, Z1)
	Q4KL_LOW(2, Z2)
	Q4KL_LOW(3, Z3)
	Q4KL_HIGH(4, Z4)
	Q4KL_HIGH(5, Z5)
	Q4KL_HIGH(6, Z6)
	Q4KL_HIGH(7, Z7)
	VCVTDQ2PS Z20, Z20
	VCVTDQ2PS Z21, Z21
	VBROADCASTSS (R11), Z24
	VCVTPH2PS 2240(SI), Z22
	VCVTPH2PS 2272(SI), Z23
	VMULPS Z24, Z22, Z22
	VMULPS Z20, Z22, Z22
	VADDPS Z22, Z26, Z26
	VMULPS Z24, Z23, Z23
	VMULPS Z21, Z23, Z23
	VSUBPS Z23, Z26, Z26
	ADDQ $2304, SI
	ADDQ $256, DX
	ADDQ $4, R11
	ADDQ $64, R12
	DECQ CX
	JNZ klsb

	VMOVUPS Z26, (DI)
	ADDQ $64, DI
	DECQ R10
	JNZ klgroup
	VZEROUPPER
	RET
