//go:build !amd64 || amd64.v3

package proof

// compilerFuses reports whether the compiler may fuse float32 multiply-adds
// in package model (it does on arm64, and on amd64 from v3).
const compilerFuses = true
