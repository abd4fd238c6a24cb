// Macros shared by the amd64 kernels.
//
// Reductions: the kernels need the exact sum of each of several int32
// vectors. VPHADDD would do it in a tree, but it costs several shuffle
// uops, and the shuffle unit is the bottleneck of these kernels. MERGE2
// instead combines two vectors with two blends (any vector ALU), one
// in-lane shuffle and one add; integer sums are exact in any order.

// MERGE2 sets A to [a0+a1, b0+b1, a2+a3, b2+b3] in each 128-bit lane, from
// A = [a0 a1 a2 a3], B = [b0 b1 b2 b3] (T, U scratch).
#define MERGE2(A, B, T, U) \
	VPBLENDD $0xaa, B, A, T; \
	VPBLENDD $0xaa, A, B, U; \
	VPSHUFD $0xb1, U, U; \
	VPADDD U, T, A

// MERGE4 sets A to [Σa Σb Σc Σd] in each 128-bit lane from MERGE2
// results A = [a b a b], C = [c d c d] (partial sums).
#define MERGE4(A, C, T, U) \
	VPBLENDD $0xcc, C, A, T; \
	VPBLENDD $0xcc, A, C, U; \
	VPSHUFD $0x4e, U, U; \
	VPADDD U, T, A

// REDUCE4 sums each of A, B, C, D (8 int32 lanes each) into lanes 0..3 of
// XA, the X register of A (XT that of T); all six registers are clobbered.
#define REDUCE4(A, B, C, D, T, U, XA, XT) \
	MERGE2(A, B, T, U); \
	MERGE2(C, D, T, U); \
	MERGE4(A, C, T, U); \
	VEXTRACTI128 $1, A, XT; \
	VPADDD XT, XA, XA

// REDUCE4H is REDUCE4 without the last step: lane i of each 128-bit half
// of A is the sum of that half of the i-th vector. With vectors
// [x_i (4 lanes) | m_i (4 lanes)] it gives [Σx_0..Σx_3 | Σm_0..Σm_3].
#define REDUCE4H(A, B, C, D, T, U) \
	MERGE2(A, B, T, U); \
	MERGE2(C, D, T, U); \
	MERGE4(A, C, T, U)

// REDUCE8 sums each of A, B, C, D, E, F, G, H into lane i of A, in order.
#define REDUCE8(A, B, C, D, E, F, G, H, T, U) \
	MERGE2(A, B, T, U); \
	MERGE2(C, D, T, U); \
	MERGE2(E, F, T, U); \
	MERGE2(G, H, T, U); \
	MERGE4(A, C, T, U); \
	MERGE4(E, G, T, U); \
	VPBLENDD $0xf0, E, A, T; \
	VPERM2I128 $0x21, E, A, U; \
	VPADDD U, T, A

// HALVES4 gathers the four f16 values at OFF(P), OFF(P)(R*1),
// OFF(P)(R*2), OFF(P)(R3*1) (R3 = 3·R) into the low 64 bits of X, with
// scalar loads into the scratch registers S, T: VPINSRW would use the
// shuffle unit.
#define HALVES4(OFF, P, R, R3, X, S, T) \
	MOVWLZX OFF(P), S; \
	MOVWLZX OFF(P)(R*1), T; \
	SHLL $16, T; \
	ORL T, S; \
	MOVWLZX OFF(P)(R3*1), T; \
	SHLQ $16, T; \
	MOVW OFF(P)(R*2), T; \
	SHLQ $32, T; \
	ORQ T, S; \
	VMOVQ S, X

// HALVES2 gathers the f16 values at OFF1(P) and OFF2(P)(R*1) into the low
// 32 bits of X.
#define HALVES2(OFF1, OFF2, P, R, X, S, T) \
	MOVWLZX OFF1(P), S; \
	MOVWLZX OFF2(P)(R*1), T; \
	SHLL $16, T; \
	ORL T, S; \
	VMOVD S, X

// VEX256_0F38(OP, S, U, D) encodes the VEX.256.66.0F38.W0 instruction
// OP with the register operands YD (ModRM reg), YU (vvvv) and YS (ModRM
// rm), given as register numbers 0..15: C4, then R̄X̄B̄ and map 0F38,
// then W0, the inverted vvvv, L = 256 and pp = 66, the opcode, and a
// register-direct ModRM.
#define VEX256_0F38(OP, S, U, D) \
	BYTE $0xC4; \
	BYTE $(((((D)>>3)^1)<<7) | 0x40 | ((((S)>>3)^1)<<5) | 0x02); \
	BYTE $((((U)^15)<<3) | 0x05); \
	BYTE $OP; \
	BYTE $(0xC0 | (((D)&7)<<3) | ((S)&7))

// VPDPBUSD_VEX(S, U, D) and VPDPWSSD_VEX(S, U, D) are the AVX-VNNI
// instructions VPDPBUSD/VPDPWSSD YD, YU, YS in Go operand order: YD +=
// per 32-bit lane the sum of the products of the four unsigned bytes of
// YU with the four signed bytes of YS (VPDPBUSD), or of the two signed
// words of YU with those of YS (VPDPWSSD). Go's assembler only knows
// their EVEX encodings (AVX512_VNNI + AVX512VL), which CPUs with AVX-VNNI
// but without AVX-512 (Alder Lake and later consumer Intel parts) fault
// on, so the VEX encodings are spelled out.
#define VPDPBUSD_VEX(S, U, D) VEX256_0F38(0x50, S, U, D)
#define VPDPWSSD_VEX(S, U, D) VEX256_0F38(0x52, S, U, D)

// MADDACC_AVX2 and MADDACC_VEX(S, SN, P, PN, I, IN) add to the int32 lanes
// of I the products of the int16 pairs of P and S (register numbers SN,
// PN, IN): with AVX2, VPMADDWD (into P) and VPADDD; with AVX-VNNI, one
// VPDPWSSD. Both sum exact integers. The K-quant kernels are templates
// instantiated with MADDACC defined as either.
#define MADDACC_AVX2(S, SN, P, PN, I, IN) \
	VPMADDWD S, P, P; \
	VPADDD P, I, I
#define MADDACC_VEX(S, SN, P, PN, I, IN) VPDPWSSD_VEX(SN, PN, IN)

// PREFETCH_NEXT4_144 prefetches the 144-byte super-block at BX (Q4_K,
// Q5_K) of the four rows after the current four: row stride R8, R9 =
// 3·R8. Clobbers AX.
#define PREFETCH_NEXT4_144 \
	LEAQ (BX)(R8*4), AX; \
	PREFETCH4_144

// PREFETCH4_144 prefetches four 144-byte super-blocks from AX on, R8
// bytes apart (R9 = 3·R8). With R8 = 144 (four rows' super-blocks
// interleaved) that is one 576-byte run.
#define PREFETCH4_144 \
	PREFETCHT0 (AX); \
	PREFETCHT0 64(AX); \
	PREFETCHT0 128(AX); \
	PREFETCHT0 (AX)(R8*1); \
	PREFETCHT0 64(AX)(R8*1); \
	PREFETCHT0 128(AX)(R8*1); \
	PREFETCHT0 (AX)(R8*2); \
	PREFETCHT0 64(AX)(R8*2); \
	PREFETCHT0 128(AX)(R8*2); \
	PREFETCHT0 (AX)(R9*1); \
	PREFETCHT0 64(AX)(R9*1); \
	PREFETCHT0 128(AX)(R9*1)
