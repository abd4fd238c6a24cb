package proof

import (
	"math"
	"math/big"
)

// Canonical arithmetic: what the evidence checks compute, bit for bit the
// same on every machine, compiler and Go version.
//
// A ledger re-checks fraud evidence when it applies a block, and replays
// old blocks years later, so a verdict must never depend on the machine
// that reaches it. Two things in ordinary Go float code do:
//
//   - The compiler may fuse x*y + z into one fused multiply-add (it does
//     on arm64, ppc64, s390x and riscv64, and on amd64 with GOAMD64=v3),
//     which rounds once instead of twice. An explicit conversion,
//     float64(x*y) + z, forbids that; every product below that meets an
//     addition is written so.
//   - math.Exp, math.Log, math.Pow and math.Sincos differ in their last
//     bits between architectures (assembly on amd64, with and without FMA
//     at run time, and on arm64; measured in TestCanonicalMathMatchesStd).
//     canonExp, canonLog, canonPow and canonSincos below use only IEEE
//     additions, multiplications and divisions in a fixed order.
//
// The canonical functions are accurate to about an ulp, so that rounded to
// float32 they almost always equal float32(math.Exp(x)) and the like, which
// is what honest nodes compute (TestCanonicalMathMatchesStd counts the
// exceptions: none in millions of samples).

// Constants split so that k·hi is exact for the integers k that occur.
var (
	ln2Hi, ln2Lo      float64    // ln 2 = hi + lo, hi with 32 significant bits
	pio2              [5]float64 // π/2 = Σ pio2[i], the first four of 25 bits
	twoOverPi, invLn2 float64
	sqrt2             = math.Sqrt(2)
	expCoef, logCoef  [24]float64
	sinCoef, cosCoef  [14]float64
)

// canonReduceLimit bounds |x|/(π/2) for canonSincos: below it the
// reduction's products are exact.
const canonReduceLimit = 1 << 27

// Decimal expansions of π and ln 2, far beyond float64.
const (
	piDigits  = "3.14159265358979323846264338327950288419716939937510582097494459"
	ln2Digits = "0.69314718055994530941723212145817656807550013436025525412068000"
)

func init() {
	const prec = 256
	parse := func(s string) *big.Float {
		f, _, err := big.ParseFloat(s, 10, prec, big.ToNearestEven)
		if err != nil {
			panic(err)
		}
		return f
	}
	// split rounds x to bits significant bits and returns it and x − it.
	split := func(x *big.Float, bits uint) (float64, *big.Float) {
		hi := new(big.Float).SetPrec(bits).SetMode(big.ToZero).Set(x)
		v, _ := hi.Float64()
		rest := new(big.Float).SetPrec(prec).Sub(x, new(big.Float).SetPrec(prec).SetFloat64(v))
		return v, rest
	}
	ln2 := parse(ln2Digits)
	var rest *big.Float
	ln2Hi, rest = split(ln2, 32)
	ln2Lo, _ = rest.Float64()
	inv := new(big.Float).SetPrec(prec).Quo(big.NewFloat(1).SetPrec(prec), ln2)
	invLn2, _ = inv.Float64()

	half := new(big.Float).SetPrec(prec).Quo(parse(piDigits), big.NewFloat(2).SetPrec(prec))
	rest = half
	for i := 0; i < 4; i++ {
		pio2[i], rest = split(rest, 25)
	}
	pio2[4], _ = rest.Float64()
	top := new(big.Float).SetPrec(prec).Quo(big.NewFloat(1).SetPrec(prec), half)
	twoOverPi, _ = top.Float64()

	// Taylor coefficients 1/n!, computed exactly and rounded once.
	fact := new(big.Float).SetPrec(prec).SetInt64(1)
	var inverse [48]float64
	for n := 0; n < len(inverse); n++ {
		if n > 0 {
			fact.Mul(fact, new(big.Float).SetPrec(prec).SetInt64(int64(n)))
		}
		inverse[n], _ = new(big.Float).SetPrec(prec).Quo(big.NewFloat(1).SetPrec(prec), fact).Float64()
	}
	for i := range expCoef {
		expCoef[i] = inverse[i]
	}
	for i := range sinCoef {
		sinCoef[i] = inverse[2*i+1] // 1/(2i+1)!
		cosCoef[i] = inverse[2*i]   // 1/(2i)!
	}
	for i := range logCoef {
		logCoef[i], _ = new(big.Float).SetPrec(prec).Quo(big.NewFloat(1).SetPrec(prec),
			new(big.Float).SetPrec(prec).SetInt64(int64(2*i+1))).Float64() // 1/(2i+1)
	}
}

// pow2 returns 2^k for -1074 ≤ k ≤ 1023, exactly.
func pow2(k int) float64 {
	if k >= -1022 {
		return math.Float64frombits(uint64(k+1023) << 52)
	}
	return math.Float64frombits(1 << uint(k+1074))
}

// canonExp is e^x, canonical (see above).
func canonExp(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 709.8:
		return math.Inf(1)
	case x < -745.2:
		return 0
	}
	// x = k·ln2 + r with |r| ≤ ln2/2; k·ln2Hi is exact (|k| < 2^11).
	k := math.Floor(float64(x*invLn2) + 0.5)
	r := float64(x-float64(k*ln2Hi)) - float64(k*ln2Lo)
	p := expCoef[len(expCoef)-1]
	for i := len(expCoef) - 2; i >= 0; i-- {
		p = float64(p*r) + expCoef[i]
	}
	ki := int(k)
	switch {
	case ki > 1023:
		return float64(p*pow2(1023)) * pow2(ki-1023)
	case ki < -1022:
		// One rounding, into the subnormal range.
		return float64(p*pow2(ki+60)) * pow2(-60)
	}
	return p * pow2(ki)
}

// canonLog is the natural logarithm of x > 0, canonical; NaN for x < 0 or
// NaN, −Inf for 0, +Inf for +Inf.
func canonLog(x float64) float64 {
	switch {
	case x != x || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return x
	}
	e := 0
	if x < 0x1p-1022 {
		x *= 0x1p54 // subnormal: make it normal, exactly
		e = -54
	}
	b := math.Float64bits(x)
	e += int(b>>52&0x7ff) - 1023
	m := math.Float64frombits(b&^(0x7ff<<52) | 1023<<52) // in [1, 2)
	if m > sqrt2 {
		m *= 0.5
		e++
	}
	// log m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172.
	s := (m - 1) / (m + 1)
	s2 := s * s
	p := logCoef[len(logCoef)-1]
	for i := len(logCoef) - 2; i >= 0; i-- {
		p = float64(p*s2) + logCoef[i]
	}
	fe := float64(e)
	return float64(fe*ln2Hi) + (float64(fe*ln2Lo) + float64(float64(2*s)*p))
}

// canonPow is b^y for b > 0, canonical: exp(y·log b). It is accurate to a
// few ulps for the moderate values RoPE uses (|y·log b| ≲ 20).
func canonPow(b, y float64) float64 {
	if y == 0 {
		return 1
	}
	return canonExp(float64(y * canonLog(b)))
}

// canonSincos returns sin x and cos x, canonical, for |x| < 2^27·π/2
// (NaN beyond: RoPE angles are far smaller).
func canonSincos(x float64) (sin, cos float64) {
	if x != x || math.Abs(x) >= canonReduceLimit*pio2[0] {
		return math.NaN(), math.NaN()
	}
	// x = j·π/2 + r, |r| ≤ π/4: j < 2^27 and each pio2[i] has 25 bits, so
	// every product j·pio2[i] is exact.
	j := math.Floor(float64(x*twoOverPi) + 0.5)
	r := x
	for _, p := range pio2 {
		r -= float64(j * p)
	}
	r2 := r * r
	s := sinCoef[len(sinCoef)-1]
	c := cosCoef[len(cosCoef)-1]
	for i := len(sinCoef) - 2; i >= 0; i-- {
		s = float64(s*-r2) + sinCoef[i]
		c = float64(c*-r2) + cosCoef[i]
	}
	s *= r
	switch int64(j) & 3 {
	case 0:
		return s, c
	case 1:
		return c, -s
	case 2:
		return -s, -c
	}
	return -c, s
}
