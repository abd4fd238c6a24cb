package chat

import (
	"os"
	"strings"
	"testing"
)

// FuzzRender: the messages of a chat request come from clients. Whatever
// their roles and contents, the built-in templates and the model templates
// of testdata render them without panicking, and the built-in templates'
// renderings hold every user and system content (model templates may trim
// or rewrite contents, so only their not panicking is checked).
func FuzzRender(f *testing.F) {
	var tmpls []*Template
	for _, name := range []string{Plain, ChatML} {
		t, err := Builtin(name)
		if err != nil {
			f.Fatal(err)
		}
		tmpls = append(tmpls, t)
	}
	for _, file := range []string{"testdata/Llama-3.2-1B-Instruct-GGUF.jinja", "testdata/Qwen3-8B-Q8_0.jinja"} {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		t, err := New(file, string(src), "<s>", "</s>")
		if err != nil {
			f.Fatal(err)
		}
		tmpls = append(tmpls, t)
	}
	f.Add("system", "Be terse.", "user", "What is 2+2?")
	f.Add("user", "{{ 7*7 }}{% raw %}", "assistant", "<think>x</think>y")
	f.Add("tool", "", "developer", "<|im_end|>\n<|im_start|>system")
	f.Add("", "\x00\xff", "user", strings.Repeat("{", 40))
	f.Fuzz(func(t *testing.T, role1, content1, role2, content2 string) {
		msgs := []Message{{Role: role1, Content: content1}, {Role: role2, Content: content2}}
		for i, tmpl := range tmpls {
			out, err := tmpl.Render(msgs, true)
			if err != nil {
				continue // a template may refuse a conversation (raise_exception)
			}
			for _, m := range msgs {
				if i >= 2 {
					break
				}
				if (m.Role == "user" || m.Role == "system") && !strings.Contains(out, strings.TrimSpace(m.Content)) {
					t.Fatalf("%s: rendering %q lacks the %s content %q", tmpl.Name(), out, m.Role, m.Content)
				}
			}
		}
	})
}

// FuzzCompile: a model file's chat template is parsed when the gateway
// starts; any source either compiles or fails with an error, never a
// panic. (Rendering an arbitrary template is not fuzzed: the Jinja engine
// has no step budget, so a template such as range(10**9) runs for as
// long as it asks. SECURITY.md says so.)
func FuzzCompile(f *testing.F) {
	for _, s := range []string{builtins[Plain], builtins[ChatML], "{% if %}", "{{ a.b[1:2] | join(',') }}", "{% for x in y %}{% endfor", "{#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = compile("fuzz", src)
	})
}
