//go:build purego || !(amd64 || arm64)

package kernels

// archLevels returns the assembly levels of this architecture. There are
// none here (or the purego build tag asked for none): the portable
// kernels serve every type.
func archLevels() []level { return nil }
