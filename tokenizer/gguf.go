package tokenizer

import (
	"fmt"
	"math"

	"github.com/tessera-net/tessera/gguf"
)

// GGUF metadata keys read by FromGGUF.
const (
	KeyModel          = "tokenizer.ggml.model"
	KeyPre            = "tokenizer.ggml.pre"
	KeyTokens         = "tokenizer.ggml.tokens"
	KeyScores         = "tokenizer.ggml.scores"
	KeyTokenType      = "tokenizer.ggml.token_type"
	KeyMerges         = "tokenizer.ggml.merges"
	KeyBOS            = "tokenizer.ggml.bos_token_id"
	KeyEOS            = "tokenizer.ggml.eos_token_id"
	KeyEOT            = "tokenizer.ggml.eot_token_id"
	KeyEOM            = "tokenizer.ggml.eom_token_id"
	KeyUNK            = "tokenizer.ggml.unknown_token_id"
	KeyPAD            = "tokenizer.ggml.padding_token_id"
	KeyFIMPad         = "tokenizer.ggml.fim_pad_token_id"
	KeyFIMRep         = "tokenizer.ggml.fim_rep_token_id"
	KeyFIMSep         = "tokenizer.ggml.fim_sep_token_id"
	KeyAddBOS         = "tokenizer.ggml.add_bos_token"
	KeyAddEOS         = "tokenizer.ggml.add_eos_token"
	KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
)

// FromGGUF builds the tokenizer embedded in a GGUF file's metadata, with
// llama.cpp's defaults for keys that are absent:
//
//   - "llama": BOS 1, EOS 2, UNK 0, add_bos_token true, add_space_prefix true;
//   - "gpt2": BOS = EOS = 11, add_bos_token true only for the llama3
//     pre-tokenizer family; an unknown tokenizer.ggml.pre falls back to
//     the GPT-2 pre-tokenizer (see PreFallback).
//
// Special ids that are out of range (such as the 0xFFFFFFFF "none" that
// converters write) keep the default, as in llama.cpp, and a default out
// of range for the vocabulary means none; malformed optional keys are
// reported by Warnings rather than failing. Missing or malformed tokens,
// scores/types of the wrong length, missing merges (gpt2) and unsupported
// tokenizer models are errors.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, err := f.String(KeyModel)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }

	cfg := Config{Model: model, EOT: NoToken, EOM: NoToken, PAD: NoToken}
	switch model {
	case ModelLlama:
		cfg.BOS, cfg.EOS, cfg.UNK = 1, 2, 0
		cfg.AddBOS, cfg.AddSpacePrefix = true, true
	case ModelGPT2:
		cfg.BOS, cfg.EOS, cfg.UNK = 11, 11, NoToken
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q (want %q or %q)", model, ModelLlama, ModelGPT2)
	}

	if cfg.Tokens, err = f.Strings(KeyTokens); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	n := len(cfg.Tokens)
	if _, ok := f.Lookup(KeyScores); ok {
		if cfg.Scores, err = f.Float32s(KeyScores); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if _, ok := f.Lookup(KeyTokenType); ok {
		if cfg.Types, err = f.Int32s(KeyTokenType); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if model == ModelGPT2 {
		if cfg.Merges, err = f.Strings(KeyMerges); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if _, ok := f.Lookup(KeyPre); ok {
			if cfg.Pre, err = f.String(KeyPre); err != nil {
				warn("%v", err)
			}
		}
		if kind, _, _, fallback := lookupPre(cfg.Pre); kind == preLlama3 && !fallback {
			cfg.AddBOS = true
		}
	}

	readID := func(key string, id *int) bool {
		if _, ok := f.Lookup(key); !ok {
			return false
		}
		v, err := f.Uint(key)
		switch {
		case err != nil:
			warn("bad special token %s: %v; using default %d", key, err, *id)
			return false
		case v >= uint64(n):
			if v != math.MaxUint32 && v != math.MaxUint64 {
				warn("bad special token %s = %d (vocabulary size %d); using default %d", key, v, n, *id)
			}
			return false
		}
		*id = int(v)
		return true
	}
	for _, s := range []struct {
		key string
		id  *int
	}{{KeyBOS, &cfg.BOS}, {KeyEOS, &cfg.EOS}, {KeyEOT, &cfg.EOT}, {KeyEOM, &cfg.EOM}, {KeyUNK, &cfg.UNK}, {KeyPAD, &cfg.PAD}} {
		readID(s.key, s.id)
		if *s.id >= n {
			*s.id = NoToken // a default beyond a small vocabulary
		}
	}
	for _, key := range []string{KeyFIMPad, KeyFIMRep, KeyFIMSep} {
		id := NoToken
		if readID(key, &id) {
			cfg.ExtraEOG = append(cfg.ExtraEOG, id)
		}
	}

	readBool := func(key string, b *bool) {
		if _, ok := f.Lookup(key); !ok {
			return
		}
		v, err := f.Bool(key)
		if err != nil {
			warn("%s: %v; using default %v", key, err, *b)
			return
		}
		*b = v
	}
	readBool(KeyAddBOS, &cfg.AddBOS)
	readBool(KeyAddEOS, &cfg.AddEOS)
	if model == ModelLlama {
		readBool(KeyAddSpacePrefix, &cfg.AddSpacePrefix)
	}

	t, err := New(cfg)
	if err != nil {
		return nil, err
	}
	t.warnings = append(warnings, t.warnings...)
	return t, nil
}
