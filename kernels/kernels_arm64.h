// Vector instructions the Go arm64 assembler does not know, encoded by
// hand (checked against GNU as). Arguments are register numbers: 3 means
// V3. Each encoding is base | m<<16 | n<<5 | d.

// SDOT Vd.4S, Vn.16B, Vm.16B: each int32 lane += the dot product of four
// signed bytes (the dot-product extension, ARMv8.2 FEAT_DotProd).
#define SDOT(d, n, m) WORD $(0x4E809400 | (m)<<16 | (n)<<5 | (d))
// SMULL/SMULL2 Vd.8H, Vn.8B/16B, Vm.8B/16B: int16 products of the low/high
// eight signed bytes.
#define SMULL(d, n, m) WORD $(0x0E20C000 | (m)<<16 | (n)<<5 | (d))
#define SMULL2(d, n, m) WORD $(0x4E20C000 | (m)<<16 | (n)<<5 | (d))
// SMLAL/SMLAL2: as SMULL/SMULL2, added to Vd.8H.
#define SMLAL(d, n, m) WORD $(0x0E208000 | (m)<<16 | (n)<<5 | (d))
#define SMLAL2(d, n, m) WORD $(0x4E208000 | (m)<<16 | (n)<<5 | (d))
// SMULLH/SMLAL2H Vd.4S, Vn.4H/8H, Vm.4H/8H: int32 products of int16 lanes.
#define SMULLH(d, n, m) WORD $(0x0E60C000 | (m)<<16 | (n)<<5 | (d))
#define SMLAL2H(d, n, m) WORD $(0x4E608000 | (m)<<16 | (n)<<5 | (d))
// SMLALH Vd.4S += Vn.4H * Vm.4H (int32 products of the low int16 lanes).
#define SMLALH(d, n, m) WORD $(0x0E608000 | (m)<<16 | (n)<<5 | (d))
// SXTL/SXTL2: sign-extend the low/high half: 8B/16B to 8H (B forms), 4H/8H
// to 4S (H forms).
#define SXTLB(d, n) WORD $(0x0F08A400 | (n)<<5 | (d))
#define SXTL2B(d, n) WORD $(0x4F08A400 | (n)<<5 | (d))
#define SXTLH(d, n) WORD $(0x0F10A400 | (n)<<5 | (d))
#define SXTL2H(d, n) WORD $(0x4F10A400 | (n)<<5 | (d))
// SADDLP/SADALP Vd.4S, Vn.8H: pairwise sums of int16 lanes into int32
// (SADALP adds them to Vd).
#define SADDLP(d, n) WORD $(0x4E602800 | (n)<<5 | (d))
#define SADALP(d, n) WORD $(0x4E606800 | (n)<<5 | (d))
// ZERO Vd: MOVI Vd.2D, #0.
#define ZERO(d) WORD $(0x6F00E400 | (d))
// MUL4S Vd.4S = Vn.4S * Vm.4S (int32).
#define MUL4S(d, n, m) WORD $(0x4EA09C00 | (m)<<16 | (n)<<5 | (d))
// SCVTF4S Vd.4S = float32(Vn.4S) (int32, round to nearest even).
#define SCVTF4S(d, n) WORD $(0x4E21D800 | (n)<<5 | (d))
// FCVTL4S Vd.4S = float32(Vn.4H) (binary16, exact).
#define FCVTL4S(d, n) WORD $(0x0E217800 | (n)<<5 | (d))
// FMUL4S, FADD4S, FSUB4S: Vd.4S = Vn.4S op Vm.4S, each rounded (no fusion).
#define FMUL4S(d, n, m) WORD $(0x6E20DC00 | (m)<<16 | (n)<<5 | (d))
#define FADD4S(d, n, m) WORD $(0x4E20D400 | (m)<<16 | (n)<<5 | (d))
#define FSUB4S(d, n, m) WORD $(0x4EA0D400 | (m)<<16 | (n)<<5 | (d))

// Products of 32 signed bytes: acc.4S gets the dot product of (w0, w1)
// with (a0, a1) (each a 16-byte vector), spread over its four lanes; t is
// a scratch register. The _SDOT forms use the dot-product extension; the
// _NEON forms plain ASIMD widening multiplies.
//
// PROD8: any int8 weights (Q8_0). Each int16 lane holds two products
// (at most 2·128·127 < 2^15) before SADDLP/SADALP widen it.
#define PROD8_SDOT(acc, w0, w1, a0, a1, t) \
	ZERO(acc); \
	SDOT(acc, w0, a0); \
	SDOT(acc, w1, a1)
#define PROD8_NEON(acc, w0, w1, a0, a1, t) \
	SMULL(t, w0, a0); \
	SMLAL2(t, w0, a0); \
	SADDLP(acc, t); \
	SMULL(t, w1, a1); \
	SMLAL2(t, w1, a1); \
	SADALP(acc, t)
// PROD4: weights of magnitude at most 63 (Q4_0's -8..7, the K-quants'
// 0..63). Each int16 lane holds four products (at most 4·63·128 < 2^15).
#define PROD4_SDOT(acc, w0, w1, a0, a1, t) PROD8_SDOT(acc, w0, w1, a0, a1, t)
#define PROD4_NEON(acc, w0, w1, a0, a1, t) \
	SMULL(t, w0, a0); \
	SMLAL2(t, w0, a0); \
	SMLAL(t, w1, a1); \
	SMLAL2(t, w1, a1); \
	SADDLP(acc, t)

// PROD1: 16 byte products, weights 0..63, into acc.4S (two products per
// int16 lane for _NEON: at most 2·63·128).
#define PROD1_SDOT(acc, w, a, t) \
	ZERO(acc); \
	SDOT(acc, w, a)
#define PROD1_NEON(acc, w, a, t) \
	SMULL(t, w, a); \
	SMLAL2(t, w, a); \
	SADDLP(acc, t)
