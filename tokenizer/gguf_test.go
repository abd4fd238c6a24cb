package tokenizer

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tessera-net/tessera/gguf"
)

// ggufOf writes kvs into an in-memory GGUF file and parses it back.
func ggufOf(t *testing.T, kvs map[string]gguf.Value) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	keys := make([]string, 0, len(kvs))
	for k := range kvs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := b.AddKV(k, kvs[k]); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// bpeKVs is a small gpt2 vocabulary as GGUF metadata.
func bpeKVs(pre string) map[string]gguf.Value {
	var toks []string
	for b := range 256 {
		toks = append(toks, byteToStr[b])
	}
	for _, m := range helloMerges {
		toks = append(toks, strings.Replace(m, " ", "", 1))
	}
	toks = append(toks, "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>")
	types := make([]int32, len(toks))
	for i := range types {
		types[i] = int32(TypeNormal)
	}
	n := len(toks)
	types[n-3], types[n-2], types[n-1] = int32(TypeControl), int32(TypeControl), int32(TypeControl)
	kv := map[string]gguf.Value{
		KeyModel:     gguf.StringValue("gpt2"),
		KeyTokens:    gguf.ArrayValue(toks),
		KeyTokenType: gguf.ArrayValue(types),
		KeyMerges:    gguf.ArrayValue(slices.Clone(helloMerges)),
		KeyBOS:       gguf.Uint32Value(uint32(n - 3)),
		KeyEOS:       gguf.Uint32Value(uint32(n - 2)),
	}
	if pre != "" {
		kv[KeyPre] = gguf.StringValue(pre)
	}
	return kv
}

func TestFromGGUFBPE(t *testing.T) {
	f := ggufOf(t, bpeKVs("llama-bpe"))
	tk, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	n := tk.VocabSize()
	if tk.Model() != ModelGPT2 || tk.Pre() != "llama3" || !tk.AddBOS() || tk.BOS() != n-3 || tk.EOS() != n-2 || tk.EOT() != n-1 || tk.UNK() != NoToken {
		t.Errorf("model %s pre %s addBOS %v bos %d eos %d eot %d unk %d", tk.Model(), tk.Pre(), tk.AddBOS(), tk.BOS(), tk.EOS(), tk.EOT(), tk.UNK())
	}
	if !tk.IsEOG(n-2) || !tk.IsEOG(n-1) || tk.IsEOG(n-3) {
		t.Errorf("EOGs %v", tk.EOGs())
	}
	ids := tk.Tokenize("hello world", true, false)
	if got := texts(tk, ids); !slices.Equal(got, w("<|begin_of_text|>", "hello", "Ġworld")) {
		t.Errorf("Tokenize %q", got)
	}
	if d := tk.Decode(ids); d != "hello world" {
		t.Errorf("Decode %q", d)
	}
	if w := tk.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}

	// gpt2 pre-tokenizer: no BOS by default; add_bos_token overrides.
	kv := bpeKVs("gpt2")
	if tk, err := FromGGUF(ggufOf(t, kv)); err != nil || tk.AddBOS() {
		t.Errorf("gpt2 AddBOS %v err %v", tk.AddBOS(), err)
	}
	kv[KeyAddBOS] = gguf.BoolValue(true)
	kv[KeyAddEOS] = gguf.BoolValue(true)
	if tk, err := FromGGUF(ggufOf(t, kv)); err != nil || !tk.AddBOS() || !tk.AddEOS() {
		t.Errorf("add_bos_token ignored: err %v", err)
	} else if got := tk.Tokenize("hello", true, false); len(got) != 3 || got[2] != tk.EOS() {
		t.Errorf("with EOS: %v", got)
	}
}

func TestFromGGUFDefaultsAndWarnings(t *testing.T) {
	kv := bpeKVs("")
	delete(kv, KeyBOS)
	kv[KeyEOS] = gguf.Uint32Value(math.MaxUint32) // "none": keeps default silently
	kv[KeyPAD] = gguf.Uint32Value(99999)          // out of range: warning
	kv[KeyEOT] = gguf.Int32Value(-1)              // negative: warning
	kv[KeyAddBOS] = gguf.StringValue("yes")       // wrong type: warning
	tk, err := FromGGUF(ggufOf(t, kv))
	if err != nil {
		t.Fatal(err)
	}
	if tk.BOS() != 11 || tk.EOS() != 11 || tk.PAD() != NoToken || tk.AddBOS() {
		t.Errorf("bos %d eos %d pad %d addBOS %v", tk.BOS(), tk.EOS(), tk.PAD(), tk.AddBOS())
	}
	if req, fb := tk.PreFallback(); !fb || req != "" {
		t.Errorf("missing pre: %q %v", req, fb)
	}
	ws := strings.Join(tk.Warnings(), "\n")
	for _, want := range []string{KeyPAD, KeyEOT, KeyAddBOS, "pre-tokenizer"} {
		if !strings.Contains(ws, want) {
			t.Errorf("no warning about %s in %q", want, ws)
		}
	}
	if strings.Contains(ws, KeyEOS) {
		t.Errorf("warning about 0xFFFFFFFF: %q", ws)
	}
}

func TestFromGGUFLlamaSmall(t *testing.T) {
	// A SentencePiece vocabulary too small for the default ids.
	kv := map[string]gguf.Value{
		KeyModel:          gguf.StringValue("llama"),
		KeyTokens:         gguf.ArrayValue([]string{"▁", "a", "▁a"}),
		KeyScores:         gguf.ArrayValue([]float32{-1, -2, -3}),
		KeyAddSpacePrefix: gguf.BoolValue(false),
	}
	tk, err := FromGGUF(ggufOf(t, kv))
	if err != nil {
		t.Fatal(err)
	}
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.UNK() != 0 || tk.AddSpacePrefix() {
		t.Errorf("bos %d eos %d unk %d prefix %v", tk.BOS(), tk.EOS(), tk.UNK(), tk.AddSpacePrefix())
	}
	if got := texts(tk, tk.Encode("a a")); !slices.Equal(got, w("a", "▁a")) {
		t.Errorf("Encode %q", got)
	}
	kv[KeyTokens] = gguf.ArrayValue([]string{"a"})
	if tk, err := FromGGUF(ggufOf(t, kv)); err == nil {
		t.Errorf("scores/tokens length mismatch accepted: %v", tk.VocabSize())
	}
}

func TestFromGGUFErrors(t *testing.T) {
	for name, mod := range map[string]func(map[string]gguf.Value){
		"no model":    func(kv map[string]gguf.Value) { delete(kv, KeyModel) },
		"bad model":   func(kv map[string]gguf.Value) { kv[KeyModel] = gguf.StringValue("bert") },
		"no tokens":   func(kv map[string]gguf.Value) { delete(kv, KeyTokens) },
		"no merges":   func(kv map[string]gguf.Value) { delete(kv, KeyMerges) },
		"bad types":   func(kv map[string]gguf.Value) { kv[KeyTokenType] = gguf.StringValue("x") },
		"model int":   func(kv map[string]gguf.Value) { kv[KeyModel] = gguf.Uint32Value(3) },
		"tokens ints": func(kv map[string]gguf.Value) { kv[KeyTokens] = gguf.ArrayValue([]int32{1, 2}) },
	} {
		kv := bpeKVs("llama3")
		mod(kv)
		if _, err := FromGGUF(ggufOf(t, kv)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
