//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// Kernels of the legacy 32-value block types Q4_0, Q4_1, Q5_0 and Q5_1,
// and the VNNI ones of Q8_0: rows and tiles for three instruction sets,
// instances of the template legacy_amd64.h (the types differ only in
// block layout, and the instruction sets only in how they form the byte
// products).

// lpermDW spreads two float lanes [a b . .] to [a a a a b b b b] (VPERMPS).
DATA lpermDW<>+0(SB)/4, $0
DATA lpermDW<>+4(SB)/4, $0
DATA lpermDW<>+8(SB)/4, $0
DATA lpermDW<>+12(SB)/4, $0
DATA lpermDW<>+16(SB)/4, $1
DATA lpermDW<>+20(SB)/4, $1
DATA lpermDW<>+24(SB)/4, $1
DATA lpermDW<>+28(SB)/4, $1
GLOBL lpermDW<>(SB), RODATA|NOPTR, $32

// The fifth bits of Q5_0/Q5_1 (a little-endian 32-bit word, bit i for
// value i) become bytes 0 or 16: VPSHUFB copies byte i/8 of the word
// (broadcast to both 128-bit lanes) to byte i, VPAND keeps bit i%8
// (hiBits), VPCMPEQB against hiBits makes it 0xff, VPAND with hi16 16.
DATA hiShuf<>+0(SB)/8, $0x0000000000000000
DATA hiShuf<>+8(SB)/8, $0x0101010101010101
DATA hiShuf<>+16(SB)/8, $0x0202020202020202
DATA hiShuf<>+24(SB)/8, $0x0303030303030303
GLOBL hiShuf<>(SB), RODATA|NOPTR, $32
DATA hiBits<>+0(SB)/8, $0x8040201008040201
DATA hiBits<>+8(SB)/8, $0x8040201008040201
DATA hiBits<>+16(SB)/8, $0x8040201008040201
DATA hiBits<>+24(SB)/8, $0x8040201008040201
GLOBL hiBits<>(SB), RODATA|NOPTR, $32
DATA hi16<>+0(SB)/8, $0x1010101010101010
DATA hi16<>+8(SB)/8, $0x1010101010101010
DATA hi16<>+16(SB)/8, $0x1010101010101010
DATA hi16<>+24(SB)/8, $0x1010101010101010
GLOBL hi16<>(SB), RODATA|NOPTR, $32

// AVX2: VPMADDUBSW forms int16 sums of pairs of products, VPMADDWD by
// ones (Y15) int32 sums of four.
#define DOTM_AVX2(M, W, WN, D, DN) \
	VPMADDUBSW M, W, D; \
	VPMADDWD Y15, D, D

// AVX-VNNI: one VPDPBUSD, VEX-encoded (VPDPBUSD_VEX: the quants are
// first loaded into Y15). Y15 is then free: no ones are needed.
#define DOTM_VEX(M, W, WN, D, DN) \
	VMOVDQU M, Y15; \
	VPXOR D, D, D; \
	VPDPBUSD_VEX(15, WN, DN)

// DOTR_VEX and DOTR_EVEX(Q, QN, W, WN, D, DN) add to the int32 lanes of
// D the sums of four products of the unsigned bytes of W with the signed
// bytes of Q (register numbers QN, WN, DN), for the 8-position tiles.
#define DOTR_VEX(Q, QN, W, WN, D, DN) VPDPBUSD_VEX(QN, WN, DN)
#define DOTR_EVEX(Q, QN, W, WN, D, DN) VPDPBUSD Q, W, D

// AVX-512 VNNI: the EVEX form, which Go's assembler emits for VPDPBUSD
// (it needs AVX512VL for YMM registers).
#define DOTM_EVEX(M, W, WN, D, DN) \
	VPXOR D, D, D; \
	VPDPBUSD M, W, D

#define DOTM DOTM_AVX2
#define NAME ·q4_0RowsAVX2
#define LQ4_0
#include "legacy_amd64.h"
#define NAME ·q4_0TileAVX2
#define LQ4_0
#define TILE
#include "legacy_amd64.h"
#define NAME ·q4_1RowsAVX2
#define LQ4_1
#include "legacy_amd64.h"
#define NAME ·q4_1TileAVX2
#define LQ4_1
#define TILE
#include "legacy_amd64.h"
#define NAME ·q5_0RowsAVX2
#define LQ5_0
#include "legacy_amd64.h"
#define NAME ·q5_0TileAVX2
#define LQ5_0
#define TILE
#include "legacy_amd64.h"
#define NAME ·q5_1RowsAVX2
#define LQ5_1
#include "legacy_amd64.h"
#define NAME ·q5_1TileAVX2
#define LQ5_1
#define TILE
#include "legacy_amd64.h"
#undef DOTM

#define DOTM DOTM_VEX
#define DOTR DOTR_VEX
#define NAME ·q8_0Tile8AVXVNNI
#define LQ8_0
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q4_0Tile8AVXVNNI
#define LQ4_0
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q4_1Tile8AVXVNNI
#define LQ4_1
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q5_0Tile8AVXVNNI
#define LQ5_0
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q5_1Tile8AVXVNNI
#define LQ5_1
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q8_0RowsAVXVNNI
#define LQ8_0
#include "legacy_amd64.h"
#define NAME ·q8_0TileAVXVNNI
#define LQ8_0
#define TILE
#include "legacy_amd64.h"
#define NAME ·q4_0RowsAVXVNNI
#define LQ4_0
#include "legacy_amd64.h"
#define NAME ·q4_0TileAVXVNNI
#define LQ4_0
#define TILE
#include "legacy_amd64.h"
#define NAME ·q4_1RowsAVXVNNI
#define LQ4_1
#include "legacy_amd64.h"
#define NAME ·q4_1TileAVXVNNI
#define LQ4_1
#define TILE
#include "legacy_amd64.h"
#define NAME ·q5_0RowsAVXVNNI
#define LQ5_0
#include "legacy_amd64.h"
#define NAME ·q5_0TileAVXVNNI
#define LQ5_0
#define TILE
#include "legacy_amd64.h"
#define NAME ·q5_1RowsAVXVNNI
#define LQ5_1
#include "legacy_amd64.h"
#define NAME ·q5_1TileAVXVNNI
#define LQ5_1
#define TILE
#include "legacy_amd64.h"
#undef DOTM
#undef DOTR

#define DOTM DOTM_EVEX
#define DOTR DOTR_EVEX
#define NAME ·q4_1Tile8VNNI
#define LQ4_1
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q5_0Tile8VNNI
#define LQ5_0
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q5_1Tile8VNNI
#define LQ5_1
#define TILE8
#include "legacy_amd64.h"
#define NAME ·q8_0RowsVNNI
#define LQ8_0
#include "legacy_amd64.h"
#define NAME ·q4_0RowsVNNI
#define LQ4_0
#include "legacy_amd64.h"
#define NAME ·q4_1RowsVNNI
#define LQ4_1
#include "legacy_amd64.h"
#define NAME ·q4_1TileVNNI
#define LQ4_1
#define TILE
#include "legacy_amd64.h"
#define NAME ·q5_0RowsVNNI
#define LQ5_0
#include "legacy_amd64.h"
#define NAME ·q5_0TileVNNI
#define LQ5_0
#define TILE
#include "legacy_amd64.h"
#define NAME ·q5_1RowsVNNI
#define LQ5_1
#include "legacy_amd64.h"
#define NAME ·q5_1TileVNNI
#define LQ5_1
#define TILE
#include "legacy_amd64.h"
#undef DOTM
#undef DOTR
