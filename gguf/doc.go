// Package gguf reads and writes GGUF files, the model format of llama.cpp.
//
// # Reading
//
// Open memory-maps a file read-only and parses only its header: the
// metadata key/value pairs and the tensor infos. TensorData returns a
// sub-slice of the mapping without copying, so a process that loads only
// some layers of a model never touches the pages of the others. Parse does
// the same over an image already in memory (an embedded model, fuzzing).
// On systems without mmap (non-unix builds) Open reads the file into
// memory instead.
//
// GGUF versions 2 and 3 are read (they share one layout); version 1 and
// big-endian files are rejected with a clear error. All 13 metadata value
// types are supported, including arrays of any type and arrays of arrays
// (up to MaxArrayDepth levels).
//
// Parse validates everything it reads and never panics or allocates more
// than the remaining file size justifies: counts and lengths are checked
// against the bytes that remain before anything is allocated. Malformed
// files give a *FormatError naming the byte offset of the problem. The
// checks are: magic and version; value and element types; bools are 0 or
// 1; no duplicate keys or tensor names; general.alignment, if present, is
// a uint32 power of two; each tensor has 1 to 4 dims, a type whose layout
// is known, a row length (Dims[0]) that is a whole number of blocks, an
// offset that is a multiple of the alignment, data lying inside the file,
// and no overlap with another tensor.
//
// Tensor types: a file opens if every tensor's type has a known layout
// (quant.Type.Known), even if Tessera cannot compute with it (q2_k, q3_k,
// q8_1, q8_k); only code that computes with such a tensor fails, later.
// Unknown type ids are an error that names the id and the tensor.
//
// # Writing
//
// A Builder collects metadata and tensors and writes a GGUF v3 file. Tensor
// data is streamed from callbacks at write time, so multi-gigabyte files
// need not be held in memory; the Builder checks that each callback writes
// exactly the tensor's size. WriteFile writes atomically (temporary file,
// fsync, rename). Builder.CopyKV and Builder.CopyTensor copy metadata and
// tensors from an open File, e.g. to write a slice of a model.
package gguf
