package kernels

// archKernels replaces entries of t with kernels specific to the CPU this
// runs on. There are none yet: assembly row dots (AVX2, NEON, ...) go in
// per-architecture files that replace this one, check CPU features (for
// example with golang.org/x/sys/cpu) and keep the act and pack formats
// their dots expect. Every entry must agree with the generic kernel of its
// type (TestGenericMatchesSelected; the plain-Go kernels are bit-identical
// to them).
func archKernels(t *kernelTable) {}
