//go:build amd64 && !amd64.v3

package proof

// compilerFuses reports whether the compiler may fuse float32 multiply-adds
// in package model (it does not on amd64 below v3).
const compilerFuses = false
