//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// iota16<> is 0, 1, ..., 15 (int32).
DATA iota16<>+0(SB)/8, $0x0000000100000000
DATA iota16<>+8(SB)/8, $0x0000000300000002
DATA iota16<>+16(SB)/8, $0x0000000500000004
DATA iota16<>+24(SB)/8, $0x0000000700000006
DATA iota16<>+32(SB)/8, $0x0000000900000008
DATA iota16<>+40(SB)/8, $0x0000000b0000000a
DATA iota16<>+48(SB)/8, $0x0000000d0000000c
DATA iota16<>+56(SB)/8, $0x0000000f0000000e
GLOBL iota16<>(SB), RODATA|NOPTR, $64

// The 16-position tiles keep position p in 32-bit lane p of a ZMM
// register: each VPDPBUSD multiplies four weights of a row, broadcast to
// every lane, with four quants of each of the 16 positions (the
// activations transposed by prepTile16), and accumulates into the
// positions' lanes. Each lane's block sum is thus exact without any
// horizontal reduction, and the lanes accumulate the floats
// acc += (dw·dx_p)·float32(s) in block order like the generic code.

// Q80Z_CHUNK accumulates, for the row whose block is at P (an address
// expression base), four products of each position into Z: VPDPBUSD of
// u = w XOR 0x80 (four weights, unsigned, broadcast by VPXORD.BCST) with
// the transposed quants T (one of Z16..Z23).
#define Q80Z_CHUNK(OFF, P, T, Z) \
	VPXORD.BCST OFF P, Z31, Z8; \
	VPDPBUSD T, Z8, Z

// Q80Z_CHUNKS does chunk OFF (transposed quants T) for the four rows in
// turn, so that the four accumulator chains advance together.
#define Q80Z_CHUNKS(OFF, T) \
	Q80Z_CHUNK(OFF, (BX), T, Z0); \
	Q80Z_CHUNK(OFF, (BX)(R8*1), T, Z1); \
	Q80Z_CHUNK(OFF, (BX)(R8*2), T, Z2); \
	Q80Z_CHUNK(OFF, (BX)(R9*1), T, Z3)

// ZFINISH turns row lanes Z (u·q sums) into floats and accumulates them
// into F: s = Z - Z9 (Z9 = 128·Σq per position), t = (dw·dx)·s with dw
// the f16 scale at P and dx the positions' scales at (R11).
#define ZFINISH(P, Z, F) \
	VPSUBD Z9, Z, Z; \
	VCVTDQ2PS Z, Z; \
	VPBROADCASTW P, Y10; \
	VCVTPH2PS Y10, Z10; \
	VMULPS (R11), Z10, Z10; \
	VMULPS Z, Z10, Z10; \
	VADDPS Z10, F, F

// ZSCATTER stores lane p of F to OFF(DI) + 4·p·ystride (Z30 = p·ystride).
#define ZSCATTER(F, OFF) \
	LEAQ OFF(DI), AX; \
	KXNORW K1, K1, K1; \
	VSCATTERDPS F, K1, (AX)(Z30*4)

// func q8_0Tile16VNNI(y *float32, ystride int, w *byte, rowStep, nrows int, t *int8, d16 *float32, s16 *int32, nb int, blockStep, groupFix, panelBlocks, panelJump int)
//
// Q8_0 rows × sixteen Q8_0 positions, four rows per step (nrows a multiple
// of 4). t, d16, s16 are prepTile16's. Results go to y[p*ystride + r].
// Row r of a group of four starts rowStep bytes after row r-1, a row's
// blocks are blockStep bytes apart, and the next group starts 4·rowStep +
// groupFix bytes after a group: rowStep = rowBytes, blockStep = 34,
// groupFix = 0 for rows one after the other; rowStep = 34, blockStep =
// 136, groupFix = 4·rowBytes - 136 for interleaved rows (interleave4).
// After every panelBlocks blocks the next block is panelJump bytes
// further on (column panels, layout.go: the same row's blocks in the
// next panel); panelBlocks = nb, panelJump = 0 for whole rows.
TEXT ·q8_0Tile16VNNI(SB), NOSPLIT, $0-104
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ rowStep+24(FP), R8
	MOVQ nrows+32(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVQ ystride+8(FP), AX
	VPBROADCASTD AX, Z30
	VPMULLD iota16<>(SB), Z30, Z30
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z31

zgroup:
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVQ panelBlocks+88(FP), R13
	MOVQ SI, BX
	MOVQ t+40(FP), DX
	MOVQ d16+48(FP), R11
	MOVQ s16+56(FP), R12
	MOVQ nb+64(FP), CX

zblock:
	VMOVDQU32 (DX), Z16
	VMOVDQU32 64(DX), Z17
	VMOVDQU32 128(DX), Z18
	VMOVDQU32 192(DX), Z19
	VMOVDQU32 256(DX), Z20
	VMOVDQU32 320(DX), Z21
	VMOVDQU32 384(DX), Z22
	VMOVDQU32 448(DX), Z23
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	Q80Z_CHUNKS(2, Z16)
	Q80Z_CHUNKS(6, Z17)
	Q80Z_CHUNKS(10, Z18)
	Q80Z_CHUNKS(14, Z19)
	Q80Z_CHUNKS(18, Z20)
	Q80Z_CHUNKS(22, Z21)
	Q80Z_CHUNKS(26, Z22)
	Q80Z_CHUNKS(30, Z23)
	VPSLLD $7, (R12), Z9
	ZFINISH((BX), Z0, Z4)
	ZFINISH((BX)(R8*1), Z1, Z5)
	ZFINISH((BX)(R8*2), Z2, Z6)
	ZFINISH((BX)(R9*1), Z3, Z7)
	ADDQ blockStep+72(FP), BX
	ADDQ $512, DX
	ADDQ $64, R11
	ADDQ $64, R12
	DECQ R13
	JNZ zblocksame
	ADDQ panelJump+96(FP), BX
	MOVQ panelBlocks+88(FP), R13

zblocksame:
	DECQ CX
	JNZ zblock

	ZSCATTER(Z4, 0)
	ZSCATTER(Z5, 4)
	ZSCATTER(Z6, 8)
	ZSCATTER(Z7, 12)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	ADDQ groupFix+80(FP), SI
	SUBQ $4, R10
	JA zgroup
	VZEROUPPER
	RET

// Q40Z_DWORD adds dword k of the Q4_0 block at P (eight nibbles: values
// 4k..4k+3 low, 16+4k..16+4k+3 high) times the transposed quants TLO and
// THI to Z. Z29 = 0x0f bytes.
#define Q40Z_DWORD(OFF, P, TLO, THI, Z) \
	VPANDD.BCST OFF P, Z29, Z8; \
	VPDPBUSD TLO, Z8, Z; \
	VPSRLD.BCST $4, OFF P, Z8; \
	VPANDD Z29, Z8, Z8; \
	VPDPBUSD THI, Z8, Z

#define Q40Z_DWORDS(OFF, TLO, THI) \
	Q40Z_DWORD(OFF, (BX), TLO, THI, Z0); \
	Q40Z_DWORD(OFF, (BX)(R8*1), TLO, THI, Z1); \
	Q40Z_DWORD(OFF, (BX)(R8*2), TLO, THI, Z2); \
	Q40Z_DWORD(OFF, (BX)(R9*1), TLO, THI, Z3)

// func q4_0Tile16VNNI(y *float32, ystride int, w *byte, rowStep, nrows int, t *int8, d16 *float32, s16 *int32, nb int, blockStep, groupFix, panelBlocks, panelJump int)
//
// Q4_0 rows × sixteen Q8_0 positions, four rows per step, as
// q8_0Tile16VNNI (the same steps, with 18-byte blocks): the unsigned
// nibbles u give s = Σ u·q - 8·Σ q.
TEXT ·q4_0Tile16VNNI(SB), NOSPLIT, $0-104
	MOVQ y+0(FP), DI
	MOVQ w+16(FP), SI
	MOVQ rowStep+24(FP), R8
	MOVQ nrows+32(FP), R10
	LEAQ (R8)(R8*2), R9
	MOVQ ystride+8(FP), AX
	VPBROADCASTD AX, Z30
	VPMULLD iota16<>(SB), Z30, Z30
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z29

z4group:
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVQ panelBlocks+88(FP), R13
	MOVQ SI, BX
	MOVQ t+40(FP), DX
	MOVQ d16+48(FP), R11
	MOVQ s16+56(FP), R12
	MOVQ nb+64(FP), CX

z4block:
	VMOVDQU32 (DX), Z16
	VMOVDQU32 64(DX), Z17
	VMOVDQU32 128(DX), Z18
	VMOVDQU32 192(DX), Z19
	VMOVDQU32 256(DX), Z20
	VMOVDQU32 320(DX), Z21
	VMOVDQU32 384(DX), Z22
	VMOVDQU32 448(DX), Z23
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	Q40Z_DWORDS(2, Z16, Z20)
	Q40Z_DWORDS(6, Z17, Z21)
	Q40Z_DWORDS(10, Z18, Z22)
	Q40Z_DWORDS(14, Z19, Z23)
	VPSLLD $3, (R12), Z9
	ZFINISH((BX), Z0, Z4)
	ZFINISH((BX)(R8*1), Z1, Z5)
	ZFINISH((BX)(R8*2), Z2, Z6)
	ZFINISH((BX)(R9*1), Z3, Z7)
	ADDQ blockStep+72(FP), BX
	ADDQ $512, DX
	ADDQ $64, R11
	ADDQ $64, R12
	DECQ R13
	JNZ z4blocksame
	ADDQ panelJump+96(FP), BX
	MOVQ panelBlocks+88(FP), R13

z4blocksame:
	DECQ CX
	JNZ z4block

	ZSCATTER(Z4, 0)
	ZSCATTER(Z5, 4)
	ZSCATTER(Z6, 8)
	ZSCATTER(Z7, 12)
	ADDQ $16, DI
	LEAQ (SI)(R8*4), SI
	ADDQ groupFix+80(FP), SI
	SUBQ $4, R10
	JA z4group
	VZEROUPPER
	RET
